// plexfm status page: progressive enhancement only. Every action also works as a plain form.
// Data from the server is put in the page with textContent, never as HTML.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function toast(message, isError) {
    const el = document.createElement("div");
    el.className = "toast" + (isError ? " error" : "");
    el.setAttribute("role", "status");
    el.textContent = message;
    document.body.appendChild(el);
    setTimeout(() => el.remove(), isError ? 6000 : 3000);
  }

  // a message that must outlive a reload (a button's confirmation): shown as the page's flash
  const FLASH = "plexfm-flash";
  function flash(message, isError) {
    const p = document.createElement("p");
    p.className = "flash " + (isError ? "error" : "ok");
    p.textContent = message;
    const messages = document.getElementById("messages");
    if (messages) messages.appendChild(p);
  }
  function reloadWith(message) {
    try { sessionStorage.setItem(FLASH, message); } catch (e) { /* private mode: no message */ }
    location.reload();
  }
  try {
    const saved = sessionStorage.getItem(FLASH);
    if (saved) { sessionStorage.removeItem(FLASH); flash(saved, false); }
  } catch (e) { /* no storage */ }

  async function post(url, data) {
    const response = await fetch(url, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf() },
    });
    let body = {};
    try { body = await response.json(); } catch (e) { body = { error: response.statusText }; }
    if (!response.ok || body.ok === false) throw new Error(body.error || ("HTTP " + response.status));
    return body;
  }

  function selectItem(item) {
    document.querySelectorAll(".qitem.selected").forEach((el) => el.classList.remove("selected"));
    if (item) { item.classList.add("selected"); item.focus({ preventScroll: false }); }
  }

  function bump(id, delta) {
    const count = document.getElementById(id);
    const n = count ? parseInt(count.textContent.replace(/[^0-9]/g, ""), 10) : NaN;
    if (!isNaN(n)) count.textContent = Math.max(0, n + delta).toLocaleString("en");
  }

  function resolved(item, action) {
    // a queue item was decided or skipped: drop it, count it, and move on to the next one
    const next = item.nextElementSibling && item.nextElementSibling.classList.contains("qitem")
      ? item.nextElementSibling : item.previousElementSibling;
    if (/\/skip$/.test(action)) bump("queue-skipped", 1);
    else if (/\/unskip$/.test(action)) bump("queue-skipped", -1);
    else {
      bump("queue-waiting", -1);
      if (item.querySelector('form[action$="/unskip"]')) bump("queue-skipped", -1);
    }
    item.remove();
    if (next && next.classList.contains("qitem")) selectItem(next);
  }

  async function submitAction(form, data) {
    const item = form.closest(".qitem");
    const row = form.closest("tr[data-track-id]");
    if (item) item.classList.add("gone");
    try {
      const body = await post(form.action, data || new FormData(form));
      if (item) { toast(body.message || "Done"); resolved(item, form.action); }
      else if (row || form.hasAttribute("data-reload")) reloadWith(body.message || "Done");
      else toast(body.message || "Done");
    } catch (err) {
      if (item) item.classList.remove("gone");
      toast(err.message, true);
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (!form.hasAttribute("data-ajax")) return;
    event.preventDefault();
    submitAction(form);
  });

  // library search as you type, in the queue and on the matches page
  function renderResults(list, items, acceptUrl) {
    list.replaceChildren();
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "Nothing in the library matches.";
      list.appendChild(li);
      return;
    }
    for (const t of items) {
      const li = document.createElement("li");
      const track = document.createElement("span");
      track.className = "track";
      const title = document.createElement("span");
      title.className = "t-title";
      title.textContent = t.title;
      const meta = document.createElement("span");
      meta.className = "t-meta";
      meta.textContent = (t.track_artist || t.album_artist) + " · " + t.album +
        (t.album_year ? " (" + t.album_year + ")" : "");
      track.append(title, meta);
      const form = document.createElement("form");
      form.method = "post";
      form.action = acceptUrl;
      form.className = "inline";
      form.setAttribute("data-ajax", "");
      const key = document.createElement("input");
      key.type = "hidden"; key.name = "rating_key"; key.value = String(t.rating_key);
      const button = document.createElement("button");
      button.type = "submit"; button.className = "primary"; button.textContent = "Use this";
      form.append(key, button);
      li.append(track, form);
      list.appendChild(li);
    }
  }

  let sequence = 0;
  const timers = new WeakMap();
  async function liveSearch(input) {
    const container = input.closest(".qitem") || input.closest("td");
    const list = container && container.querySelector(".results");
    if (!list) return;
    const q = input.value.trim();
    if (q.length < 2) { list.replaceChildren(); return; }
    const mine = ++sequence;
    try {
      const response = await fetch("/api/library/search?limit=8&q=" + encodeURIComponent(q),
        { headers: { "Accept": "application/json" }, credentials: "same-origin" });
      const body = await response.json();
      if (mine === sequence) renderResults(list, body.items || [], input.dataset.accept);
    } catch (err) { toast("search failed: " + err.message, true); }
  }
  document.addEventListener("input", (event) => {
    const input = event.target;
    if (input instanceof HTMLInputElement && input.hasAttribute("data-live-search")) {
      clearTimeout(timers.get(input));
      timers.set(input, setTimeout(() => liveSearch(input), 120));
    }
    if (input instanceof HTMLInputElement && input.closest("#bulk-accept")) bulkPreview();
  });
  document.addEventListener("keydown", (event) => {
    const input = event.target;
    if (event.key === "Enter" && input instanceof HTMLInputElement && input.hasAttribute("data-live-search")) {
      event.preventDefault();
      liveSearch(input);
    }
  });

  // how many tracks the bulk accept would decide
  async function bulkPreview() {
    const form = document.getElementById("bulk-accept");
    const out = document.getElementById("bulk-preview");
    if (!form || !out) return;
    const params = new URLSearchParams({ min_score: form.elements.min_score.value,
      artist: form.elements.artist.value });
    try {
      const response = await fetch("/api/queue/bulk-preview?" + params, { headers: { "Accept": "application/json" } });
      const body = await response.json();
      const counted = (counts) => Object.entries(counts).sort((a, b) => b[1] - a[1])
        .map(([why, n]) => n.toLocaleString("en") + " " + why).join(", ");
      let text = "Would accept " + body.tracks.toLocaleString("en") + " tracks" +
        (body.tracks ? " (" + counted(body.by_reason) + ")" : "") + ".";
      if (Object.keys(body.excluded).length) {
        text += " Left for you to decide one by one: " + counted(body.excluded) + ".";
      }
      out.textContent = text;
    } catch (err) { out.textContent = ""; }
  }
  const bulk = document.getElementById("bulk-accept");
  if (bulk) { bulk.setAttribute("data-ajax", ""); bulk.setAttribute("data-reload", ""); bulkPreview(); }
  document.querySelectorAll('form[action$="bulk-not-in-library"]').forEach((form) => {
    form.setAttribute("data-ajax", ""); form.setAttribute("data-reload", "");
  });
  document.querySelectorAll(".buttons form[data-ajax]").forEach((form) => form.setAttribute("data-reload", ""));

  // keyboard shortcuts on the queue
  document.addEventListener("keydown", (event) => {
    if (document.body.dataset.page !== "pages.queue" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement ||
        target instanceof HTMLTextAreaElement) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const items = Array.from(document.querySelectorAll(".qitem"));
    if (!items.length) return;
    let current = document.querySelector(".qitem.selected") || (target.closest && target.closest(".qitem"));
    const index = current ? items.indexOf(current) : -1;
    const key = event.key;
    if (key === "j" || key === "ArrowDown") { selectItem(items[Math.min(index + 1, items.length - 1)]); }
    else if (key === "k" || key === "ArrowUp") { selectItem(items[Math.max(index - 1, 0)]); }
    else if (/^[1-5]$/.test(key) || key === "n" || key === "s") {
      if (!current) { current = items[0]; selectItem(current); }
      const button = current.querySelector('button[data-key="' + key + '"]');
      if (button) button.form.requestSubmit(button);
    } else if (key === "/") {
      if (!current) { current = items[0]; selectItem(current); }
      const search = current.querySelector("input[data-live-search]");
      if (search) search.focus();
    } else { return; }
    event.preventDefault();
  });
})();
