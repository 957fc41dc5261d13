"""Every endpoint of the web application, fuzzed: whatever arrives in the URL, the query string,
a form or a JSON body, no answer is a 5xx.

The endpoints come from Flask's url_map and the parameter names from the web package's source
(every `int_arg("page", ...)`, `args.get("sort")`, `body_int(data, "days", ...)`...), so a new
endpoint or parameter is fuzzed without editing this file. The store is tests/test_web.py's
fixture store. Hypothesis runs derandomized (the same examples on every run and machine).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine
from werkzeug.routing import IntegerConverter, Rule

from daemon.service.health import Health
from daemon.web import WebDeps, create_app
from daemon.web.auth import Protection
from tests.test_web import Calls, build_store, make_app, token
from tests.test_web_analytics import settings as analytics_settings
from tests.test_web_redirects import cheap_hash

WEB = Path(__file__).resolve().parent.parent / "daemon" / "web"
EXAMPLES = 50
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

NUMBERS = ["1e23", "-1e400", "1e400", "\u00b2", "\u0663", "1.9", "-1", "0", "1", "true",
           "null", "NaN", "Infinity", "9" * 30, "9223372036854775808", "-9223372036854775809",
           "1" * 5000, "6.3", "1.2.3", "0x10", "+5", " 7 ", "99999999999999999999.1",
           "\u00b2.1", "1.\u00b2"]
NASTY = ["", " ", "\x00", "\n", "\r\n", "%", "%00", "/%09/evil.com", "//evil.com",
         "/\\evil.com", "'", '"', "<script>", "2021-01-01", "2021-13-45", "1970-01-01",
         "9999-12-31", "a" * 3000, "plays", "all", "manual", "on", "ABBA", "The Beatles", '"*',
         "*", "NEAR(", "=HYPERLINK(1)"]
TEXT = st.one_of(st.sampled_from(NUMBERS + NASTY),
                 st.text(st.characters(codec="utf-8"), max_size=40),
                 st.integers().map(str), st.floats().map(repr))
RAW_QUERY = ["page=%ff%fe", "after=%ED%A0%80.1", "year=%C2%B2&from=%00", "q=%E2%80%AE",
             "artist=%C0%AF", "page=1&page=x", "%=%", "next=/%0d%0aX:%20y"]
JSON_VALUE = st.one_of(
    st.sampled_from(NUMBERS + NASTY), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(), st.booleans(), st.none(), st.text(st.characters(codec="utf-8"), max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text("abc", max_size=5), st.integers(),
                                                         max_size=2))
RAW_JSON = ['{"rating_key": 1e400}', '{"days": -1e400}', '{"min_score": 1e23}', "[" * 5000,
            "{", "null", "[]", '"x"', "\xff", '{"artist": {"a": 1}}', '{"rating_key": true}']
ACCEPT = st.sampled_from([None, "application/json", "text/html", "*/*", "text/csv", "\x00"])
_NAMED = re.compile(r"(?:_arg|args\.get|form\.get|values\.get|_day|body_int|body_text|"
                    r"data\.get)\((?:[\w.]+(?:\(\))?,\s*)?\"(\w+)\"")
_PART = re.compile(r"<(?:[^:<>]+:)?(\w+)>")


def parameter_names() -> list[str]:
    """Every name the web package reads from a query string or a POST body."""
    names = {name for path in sorted(WEB.glob("*.py"))
             for name in _NAMED.findall(path.read_text(encoding="utf-8"))}
    return sorted(names | {"csrf_token", "password", "next"})


NAMES = parameter_names()


def rules() -> list[tuple[str, str, str]]:
    """(endpoint, method, mode) for every rule of the app; mode "password" fuzzes the login
    and logout of a password-protected app too (the open app has no login)."""
    app = make_app(create_engine("sqlite://"), Calls())
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, "open"))
            if rule.endpoint.startswith("auth."):
                found.append((rule.endpoint, method, "password"))
    return found


def test_the_parameter_names_are_found() -> None:
    assert {"page", "per_page", "after", "before", "limit", "min_score", "search_for", "change",
            "year", "from", "to", "rating_key", "days", "artist", "q", "sort", "status",
            "skipped", "lq"} <= set(NAMES)
    assert len(rules()) >= 30


def path_part(converter: Any, name: str, ids: list[int]) -> st.SearchStrategy[str]:
    """Values for one URL variable: likely ones, huge numbers and hostile text."""
    known = {"name": ["pull", "match", "library", "apply", "tags"],
             "key": ["genres", "hours", "years", "top_artists", "nope"],
             "filename": ["plexfm.css", "plexfm.js", "../config.yaml", "nope"]}.get(name, [])
    raw = st.one_of(st.sampled_from(known or ["x"]), TEXT)
    if isinstance(converter, IntegerConverter):
        raw = st.one_of(st.sampled_from([str(i) for i in ids]),
                        st.integers(min_value=0, max_value=10**25).map(str), TEXT)
    return raw.map(lambda text: quote(text, safe="") or "x")


def request_strategy(rule: Rule, method: str, ids: list[int]) -> st.SearchStrategy[Any]:
    parts = {name: path_part(converter, name, ids)
             for name, converter in rule._converters.items()}
    fields = st.dictionaries(st.sampled_from(NAMES), TEXT, max_size=4)
    body: st.SearchStrategy[Any] = st.none()
    if method == "POST":
        body = st.one_of(
            st.none(),
            st.tuples(st.just("form"), fields),
            st.tuples(st.just("json"), st.dictionaries(st.sampled_from(NAMES), JSON_VALUE,
                                                       max_size=4)),
            st.tuples(st.just("raw"), st.sampled_from(RAW_JSON)))
    return st.fixed_dictionaries({
        "parts": st.fixed_dictionaries(parts),
        "query": st.one_of(fields, st.sampled_from(RAW_QUERY)), "body": body,
        "accept": ACCEPT, "csrf": st.sampled_from(["good", "good", "good", "none", "bad"]),
    })


def _json_literal(value: str) -> str:
    """`value` as JSON text: bare when it reads as a JSON number or constant (so 1e400 and
    true arrive as a number and a boolean), else as a string."""
    try:
        return value if not isinstance(json.loads(value), str) else json.dumps(value)
    except ValueError:
        return json.dumps(value)


def sweep(rule: Rule, method: str, ids: list[int]) -> list[dict[str, Any]]:
    """Explicit cases run before the random ones: each hostile number in every URL variable,
    and in every known parameter at once (query string, form, JSON body)."""
    default = {name: str(ids[0]) if isinstance(converter, IntegerConverter) else "pull"
               for name, converter in rule._converters.items()}
    base: dict[str, Any] = {"parts": default, "query": {}, "body": None, "accept": None,
                            "csrf": "good"}
    cases = []
    for value in NUMBERS:
        everywhere = dict.fromkeys(NAMES, value)
        if default:
            cases.append({**base, "parts": {n: quote(value, safe="") or "x" for n in default}})
        cases.append({**base, "query": everywhere})
        if method == "POST":
            raw = "{" + ", ".join(f'"{name}": {_json_literal(value)}' for name in NAMES) + "}"
            cases.append({**base, "body": ("form", everywhere)})
            cases.append({**base, "body": ("raw", raw), "accept": "application/json"})
    return cases


def send(client: FlaskClient, rule: Rule, method: str, case: dict[str, Any],
         csrf: Callable[[], str]) -> Any:
    path = _PART.sub(lambda m: str(case["parts"][m.group(1)]), rule.rule)
    headers: dict[str, str] = {}
    if case["accept"] is not None:
        headers["Accept"] = case["accept"]
    kwargs: dict[str, Any] = {}
    if method == "POST":
        sent = {"good": csrf(), "bad": "forged", "none": None}[case["csrf"]]
        if sent is not None:
            headers["X-CSRF-Token"] = sent
        if case["body"] is not None:
            kind, data = case["body"]
            if kind == "form":
                kwargs["data"] = data
            elif kind == "json":
                kwargs["data"] = json.dumps(data)  # floats as Infinity/NaN too: what Python reads
                kwargs["content_type"] = "application/json"
            else:
                kwargs["data"] = data
                kwargs["content_type"] = "application/json"
    return client.open(path, method=method, query_string=case["query"], headers=headers,
                       **kwargs)


def app_for(engine: Engine, mode: str) -> Flask:
    if mode == "password":
        return create_app(WebDeps(engine=engine, health=lambda: Health(True),
                                  protection=Protection(password_hash=cheap_hash("pw"))))
    return make_app(engine, Calls(), analytics=analytics_settings())


@pytest.mark.reliability("input", "hostile web requests")
@pytest.mark.parametrize(("endpoint", "method", "mode"), rules())
def test_no_input_gives_a_server_error(engine: Engine, endpoint: str, method: str, mode: str,
                                       record_property: Callable[[str, object], None]) -> None:
    ids = sorted(build_store(engine).values())
    app = app_for(engine, mode)
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    client = app.test_client()
    tokens: list[str] = []

    def csrf() -> str:  # the session's token, fetched once (a logout clears it: fetch again)
        if not tokens or client.get_cookie("plexfm_session") is None:
            tokens[:] = [token(client) if mode == "open" else _login_token(client)]
        return tokens[0]

    sent = [0]  # requests actually sent: the explicit sweep and Hypothesis's examples

    @FUZZ
    @given(case=request_strategy(rule, method, ids))
    def fuzz(case: dict[str, Any]) -> None:
        sent[0] += 1
        response = send(client, rule, method, case, csrf)
        assert response.status_code < 500, (response.status_code, case,
                                            response.get_data(as_text=True)[:300])

    for case in sweep(rule, method, ids):
        fuzz = example(case=case)(fuzz)
    try:
        fuzz()
    finally:
        record_property("reliability_cases", sent[0])


def _login_token(client: FlaskClient) -> str:
    page = client.get("/login").get_data(as_text=True)
    return page.split('name="csrf-token" content="')[1].split('"')[0]
