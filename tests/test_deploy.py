"""The deployment artifacts in deploy/ (systemd unit, polkit rule, sudoers, Dockerfile, compose).

* The systemd unit is checked by `systemd-analyze verify` itself (on a copy whose ExecStart is
  an existing binary), and so is a set of deliberately broken copies, which must be rejected:
  that proves the check catches syntax errors, unknown directives and bad quoting. CI installs
  systemd for this (`apt-get install -y systemd`); without `systemd-analyze` those tests skip,
  except in CI (the CI environment variable, set by .ci/run), where they fail.
* No Docker engine runs where these tests run, so `docker build` is impossible: the Dockerfile
  is linted structurally here (instructions, stages, exec forms, user, healthcheck).
* compose.yaml is loaded with PyYAML and cross-checked against the Dockerfile. Every setting
  the deploy files name (`section.key` or PLEXFM_SECTION_KEY; an unknown PLEXFM_* variable
  stops plexfm with exit 2) must be one of daemon.config.iter_settings, and every config.yaml
  example in the READMEs must load through daemon.config.load_config. A key the docs name
  that plexfm does not have fails, even a planned one (document a setting once it exists).
* Every plexfm command line the deploy files run must parse with plexfm's own argument parser:
  a misspelt command fails (it used to skip as "not in plexfm yet").
* The polkit rule is checked statically and, when node is installed, executed against a
  matrix of requests (CI installs Debian's nodejs: there, no node fails).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.cli import build_parser
from daemon.config import ENV_CONFIG_PATH, ENV_PREFIX, SECTIONS, iter_settings, load_config
from daemon.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
DOCKER = ROOT / "deploy" / "docker"
UNIT = SYSTEMD / "plexfm.service"
RULE = SYSTEMD / "50-plexfm-plexmediaserver.rules"
SUDOERS = SYSTEMD / "plexfm.sudoers"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
READMES = (SYSTEMD / "README.md", DOCKER / "README.md")

PLEX_DB_DIR = "Library/Application Support/Plex Media Server/Plug-in Support/Databases"
PLEX_DB = "com.plexapp.plugins.library.db"
KNOWN_KEYS = {(section, f.name) for section, f in iter_settings()}

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
ANALYZE = shutil.which("systemd-analyze")
# skip on a developer's machine without the tool; in CI the tool must be there (.ci/run
# installs it), so the test runs and its missing tool is a failure, never a silent skip
needs_analyze = pytest.mark.skipif(
    ANALYZE is None and not IN_CI,
    reason="systemd-analyze not installed (CI: apt-get install -y systemd)"
)


# --- helpers -----------------------------------------------------------------------------------

def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order (systemd allows repeated keys)."""
    entries, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(text: str, key: str) -> list[str]:
    return [v for _, k, v in unit_entries(text) if k == key]


def executable_copy(text: str) -> str:
    """The unit with ExecStart's binary replaced by one that exists here (verify checks it)."""
    true = shutil.which("true")
    assert true is not None
    return re.sub(r"^(Exec\w+=[-@:+!]*)/\S+", rf"\g<1>{true}", text, flags=re.MULTILINE)


def verify_problems(directory: Path, *names: str) -> list[str]:
    """systemd-analyze verify's complaints about the given unit files (empty = valid)."""
    assert ANALYZE is not None, "systemd-analyze is missing (.ci/run installs Debian's systemd)"
    result = subprocess.run(
        [ANALYZE, "verify", "--man=no", "--generators=no", *names],
        cwd=directory, capture_output=True, text=True, timeout=60, check=False,
    )
    lines = (result.stdout + result.stderr).splitlines()
    problems = [line for line in lines if any(name in line for name in names)]
    if result.returncode != 0 and not problems:
        problems = lines or [f"exit status {result.returncode}"]
    return problems


def verify_text(tmp_path: Path, text: str, name: str = "plexfm.service") -> list[str]:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return verify_problems(tmp_path, name)


def fenced_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def readme_unit_files() -> dict[str, str]:
    """Unit files and drop-ins shown in the READMEs, by the path in their first comment line."""
    found = {}
    for readme in READMES:
        for block in fenced_blocks(readme.read_text(encoding="utf-8"), "ini"):
            first = block.splitlines()[0]
            match = re.fullmatch(r"# (/etc/systemd/system/\S+)", first)
            assert match, f"{readme.name}: an ini block must start with '# /etc/systemd/...'"
            found[match.group(1)] = block
    return found


def readme_config_blocks() -> list[tuple[str, dict[str, Any]]]:
    """The config.yaml examples in the READMEs (YAML blocks that are not compose snippets)."""
    blocks = []
    for readme in READMES:
        name = str(readme.relative_to(ROOT))
        for block in fenced_blocks(readme.read_text(encoding="utf-8"), "yaml"):
            data = yaml.safe_load(block)
            assert isinstance(data, dict), f"{name}: YAML block is not a mapping"
            if set(data) <= {"group_add", "volumes"}:  # a compose service snippet
                continue
            blocks.append((name, data))
    return blocks


# `section.key` in prose and comments; the sections are plexfm's.
PROSE_KEY = re.compile(r"\b(" + "|".join(sorted(SECTIONS)) + r")\.([a-z_]+)\b")
REQUIRED_ENV = {"PLEXFM_LASTFM_API_KEY": "0123456789abcdef0123456789abcdef",
                "PLEXFM_LASTFM_USER": "someone"}


def deploy_texts() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in sorted([*SYSTEMD.iterdir(), *DOCKER.iterdir()])
    }


def mentioned_keys() -> dict[tuple[str, str], set[str]]:
    """Every setting the deploy files name, as `section.key` or PLEXFM_SECTION_KEY."""
    found: dict[tuple[str, str], set[str]] = {}
    for where, text in deploy_texts().items():
        for section, key in PROSE_KEY.findall(text):
            found.setdefault((section, key), set()).add(where)
        for name in re.findall(r"\bPLEXFM_[A-Z0-9_]+", text):
            if name != ENV_CONFIG_PATH:  # the config file's path, not a setting
                section, _, key = name[len(ENV_PREFIX):].lower().partition("_")
                found.setdefault((section, key), set()).add(f"{where} ({name})")
    return found


def load_example(tmp_path: Path, data: dict[str, Any], environ: dict[str, str]) -> None:
    """Load a config example exactly as plexfm does (raises ConfigError when plexfm would)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    load_config(str(path), environ={**REQUIRED_ENV, **environ})


# --- systemd unit ------------------------------------------------------------------------------

@needs_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert verify_text(tmp_path, executable_copy(UNIT.read_text(encoding="utf-8"))) == []


@needs_analyze
@pytest.mark.parametrize(
    ("breakage", "old", "new"),
    [
        ("unknown directive", "ProtectHome=yes", "ProtectHomes=yes"),
        ("missing '='", "PrivateTmp=yes", "PrivateTmp yes"),
        ("bad value", "Restart=on-failure", "Restart=sometimes"),
        ("unknown section", "[Service]", "[Servic]"),
        ("unquoted path with spaces", 'ReadWritePaths="-/var', "ReadWritePaths=-/var"),
        ("missing binary", None, None),
    ],
)
def test_verify_rejects_a_broken_unit(
    tmp_path: Path, breakage: str, old: str | None, new: str | None
) -> None:
    text = UNIT.read_text(encoding="utf-8")
    if old is None or new is None:
        broken = text  # ExecStart stays /opt/plexfm/venv/bin/plexfm, absent here
    else:
        good = executable_copy(text)
        assert old in good
        broken = good.replace(old, new, 1)
        if breakage == "unquoted path with spaces":
            broken = broken.replace('Databases"', "Databases", 1)
    assert verify_text(tmp_path, broken), f"verify accepted a unit with a {breakage}"


def test_unit_settings() -> None:
    text = UNIT.read_text(encoding="utf-8")

    def one(key: str) -> str:
        values = unit_values(text, key)
        assert len(values) == 1, f"{key}: {values}"
        return values[0]

    assert one("Type") == "exec"
    assert one("ExecStart") == "/opt/plexfm/venv/bin/plexfm --config /etc/plexfm/config.yaml run"
    assert (one("User"), one("Group")) == ("plex", "plex")
    assert one("EnvironmentFile") == "-/etc/plexfm/secrets.env"
    assert one("StateDirectory") == "plexfm"
    assert one("Restart") == "on-failure"
    assert "2" in one("RestartPreventExitStatus").split()
    assert (one("KillSignal"), one("TimeoutStopSec")) == ("SIGTERM", "15")
    for key in ("StartLimitIntervalSec", "StartLimitBurst", "RestartSec"):
        assert one(key), key
    expected_hardening = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
        "ProtectHome": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes", "RestrictNamespaces": "yes",
        "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native", "CapabilityBoundingSet": "", "UMask": "0027",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    }
    assert {key: one(key) for key in expected_hardening} == expected_hardening
    after = " ".join(unit_values(text, "After")).split()
    assert {"network-online.target", "plexmediaserver.service"} <= set(after)
    assert "network-online.target" in one("Wants").split()
    for key in ("Requires", "BindsTo", "PartOf", "Requisite"):
        assert not unit_values(text, key), f"{key}= would tie plexfm's life to Plex's"


def test_read_write_path_is_the_plex_database_directory() -> None:
    [raw] = unit_values(UNIT.read_text(encoding="utf-8"), "ReadWritePaths")
    [path] = shlex.split(raw)  # one item: the quotes keep the spaces inside it
    assert path == f"-/var/lib/plexmediaserver/{PLEX_DB_DIR}"
    databases = [
        data["plex"]["database"] for readme, data in readme_config_blocks()
        if readme == "deploy/systemd/README.md" and "plex" in data and "database" in data["plex"]
    ]
    assert f"/var/lib/plexmediaserver/{PLEX_DB_DIR}/{PLEX_DB}" in databases


# Settings that imply NoNewPrivileges=yes or a mount namespace (mounted nosuid), per
# systemd.exec(5): each one breaks sudo, so the sudo drop-in must turn every one of them off.
SUDO_BREAKERS = {
    "NoNewPrivileges", "CapabilityBoundingSet", "SystemCallFilter", "SystemCallArchitectures",
    "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
    "LockPersonality", "MemoryDenyWriteExecute", "PrivateDevices", "ProtectClock",
    "ProtectHostname", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
    "ProtectControlGroups", "ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths",
    "DynamicUser", "SystemCallLog", "PrivateMounts", "ProtectProc", "ProcSubset",
}
OFF = {"", "no", "false", "~"}


def test_sudo_drop_in_undoes_everything_that_breaks_sudo() -> None:
    units = readme_unit_files()
    [drop_in] = [text for path, text in units.items() if path.startswith(
        "/etc/systemd/system/plexfm.service.d/")]
    unit_keys = {k for _, k, _ in unit_entries(UNIT.read_text(encoding="utf-8"))}
    assert unit_keys & SUDO_BREAKERS, "the list above is stale"
    last = {k: v for _, k, v in unit_entries(drop_in)}
    left_on = {k for k in unit_keys & SUDO_BREAKERS if last.get(k) not in OFF}
    assert not left_on, f"the sudo drop-in leaves these on: {sorted(left_on)}"


@needs_analyze
def test_readme_units_and_drop_in_pass_verify(tmp_path: Path) -> None:
    units = readme_unit_files()
    names = []
    for path, text in units.items():
        name = Path(path).name
        if ".service.d/" in path:  # a drop-in: as systemd does, apply it after its unit
            text = UNIT.read_text(encoding="utf-8") + "\n" + text
            name = Path(path).parent.name.removesuffix(".d")
        (tmp_path / name).write_text(executable_copy(text), encoding="utf-8")
        names.append(name)
    # units the README's units depend on, present on any Docker host
    (tmp_path / "docker.service").write_text("[Service]\nExecStart=/bin/true\n")
    assert {"plexfm-window.service", "plexfm-window.timer", "plexfm.service"} <= set(names)
    assert verify_problems(tmp_path, *names) == []


# --- polkit and sudoers ------------------------------------------------------------------------

def test_polkit_rule_covers_only_plexmediaserver_start_stop_restart() -> None:
    code = re.sub(r"//[^\n]*", "", RULE.read_text(encoding="utf-8"))
    strings = set(re.findall(r'"([^"]*)"', code))
    assert {s for s in strings if s.endswith(".service")} == {"plexmediaserver.service"}
    assert {s for s in strings if "." in s and not s.endswith(".service")} == {
        "org.freedesktop.systemd1.manage-units"}
    verbs = set(re.findall(r'verb\s*===?\s*"([^"]+)"', code))
    assert verbs == {"start", "stop", "restart"}
    assert 'action.lookup("unit")' in code
    assert 'action.lookup("verb")' in code
    assert code.count("polkit.Result.YES") == 1


NODE = shutil.which("node")
POLKIT_HARNESS = """
const fs = require("fs");
let rule = null;
const polkit = {Result: {YES: "yes", NO: "no", NOT_HANDLED: null},
                addRule: function (f) { rule = f; }};
new Function("polkit", fs.readFileSync(process.argv[1], "utf8"))(polkit);
const out = JSON.parse(process.argv[2]).map(function (c) {
  const action = {id: c[0], lookup: function (k) { return {unit: c[2], verb: c[3]}[k]; }};
  return rule(action, {user: c[1]});
});
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(NODE is None and not IN_CI,
                    reason="node not installed: the rule is only checked statically")
def test_polkit_rule_decisions() -> None:
    manage = "org.freedesktop.systemd1.manage-units"
    cases, expected = [], []
    for action in (manage, "org.freedesktop.systemd1.manage-unit-files"):
        for user in ("plex", "nobody"):
            for unit in ("plexmediaserver.service", "sshd.service", "plexfm.service"):
                for verb in ("start", "stop", "restart", "reload", "kill", "set-property"):
                    cases.append([action, user, unit, verb])
                    allowed = (action == manage and user == "plex"
                               and unit == "plexmediaserver.service"
                               and verb in {"start", "stop", "restart"})
                    expected.append("yes" if allowed else None)
    assert NODE is not None, "node is missing (.ci/run installs Debian's nodejs)"
    result = subprocess.run([NODE, "-e", POLKIT_HARNESS, str(RULE), json.dumps(cases)],
                            capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == expected


def test_sudoers_allows_exactly_stop_and_start() -> None:
    text = SUDOERS.read_text(encoding="utf-8")
    rules = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert len(rules) == 1
    who, _, commands = rules[0].partition("NOPASSWD:")
    assert who.split() == ["plex", "ALL=(root)"]
    assert [c.strip() for c in commands.split(",")] == [
        "/usr/bin/systemctl stop plexmediaserver", "/usr/bin/systemctl start plexmediaserver"]
    assert "*" not in rules[0]
    assert "NoNewPrivileges=no" in text


# --- Dockerfile --------------------------------------------------------------------------------

INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER",
}


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = pending + stripped
        pending = ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), args
    assert all(isinstance(v, str) for v in value), args
    return value


def final_stage() -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The final stage's instructions and its ARG defaults (global ARGs included)."""
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    stage = instructions[last_from:]
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    return stage, args


def test_dockerfile_structure() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    keywords = [k for k, _ in instructions]
    assert set(keywords) <= INSTRUCTIONS, set(keywords) - INSTRUCTIONS
    first_non_arg = next(k for k in keywords if k != "ARG")
    assert first_non_arg == "FROM", "only ARG may come before the first FROM"
    froms = [a for k, a in instructions if k == "FROM"]
    assert len(froms) >= 2, "multi-stage: build the wheel, install it in a clean stage"
    stage, args = final_stage()
    image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], stage[0][1]).split()[0]
    assert image == "python:3.11-slim"
    for keyword, arg in instructions:
        assert not (keyword == "ADD" and re.search(r"https?://", arg)), "ADD of a URL"
        if keyword == "RUN" and "pip" in arg and re.search(r"\b(install|wheel)\b", arg):
            assert "--no-cache-dir" in arg, arg
    final_runs = " ".join(a for k, a in stage if k == "RUN")
    for tool in ("apt-get", "gcc", "build-essential", "docker"):
        assert not re.search(rf"\b{tool}\b", final_runs), f"{tool} in the final image"


def test_dockerfile_final_stage_runs_plexfm_as_non_root() -> None:
    stage, args = final_stage()
    values: dict[str, list[str]] = {}
    for keyword, arg in stage:
        values.setdefault(keyword, []).append(arg)
    [user] = values["USER"]
    user = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], user)
    assert user.split(":")[0] not in {"root", "0", ""}, user
    assert exec_form(values["ENTRYPOINT"][-1]) == ["plexfm"]
    assert exec_form(values["CMD"][-1]) == ["--config", "/config/config.yaml", "run"]
    assert values["STOPSIGNAL"] == ["SIGTERM"]
    [health] = values["HEALTHCHECK"]
    options, _, command = health.partition("CMD ")
    assert exec_form(command) == ["plexfm", "--config", "/config/config.yaml", "healthcheck"]
    for option in ("--interval=", "--timeout=", "--start-period="):
        assert option in options, option
    assert set(exec_form(values["VOLUME"][-1])) == {"/data", "/config"}
    assert "8411" in " ".join(values["EXPOSE"]).split()
    env = " ".join(values["ENV"])
    assert "PLEXFM_STORE_DATA_DIR=/data" in env
    assert "PLEXFM_WEB_HOST" not in env, "binding beyond localhost needs web.password"


def test_dockerfile_copies_only_what_the_context_sends() -> None:
    ignored = [
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in (".venv", ".git", "bench/out", "demo-data", "tests/artifacts", ".mypy_cache"):
        assert needed in ignored, needed
    for keyword, arg in dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword != "COPY" or arg.startswith("--from"):
            continue
        for source in arg.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert source not in ignored, f"{source} is excluded by .dockerignore"


# --- compose -----------------------------------------------------------------------------------

def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target -> (source, options) of a service's short-syntax volumes."""
    out = {}
    for spec in service.get("volumes", []):
        plain = re.sub(r"\$\{[^}]*\}", "VAR", spec)  # ${MUSIC_DIR:-./music} has a colon
        source, target, *options = plain.split(":")
        out[target] = (source, ",".join(options))
    return out


def test_compose_shares_the_plex_volume_at_the_configured_path() -> None:
    data = compose()
    plex, plexfm = data["services"]["plex"], data["services"]["plexfm"]
    assert plex["image"].split(":")[0] == "plexinc/pms-docker"
    assert mounts(plex)["/config"][0] == "plex-config"
    [(target, options)] = [(t, o) for t, (s, o) in mounts(plexfm).items() if s == "plex-config"]
    assert "ro" not in options.split(","), "the window writes Plex's database"
    database = plexfm["environment"]["PLEXFM_PLEX_DATABASE"]
    assert database == f"{target}/{PLEX_DB_DIR}/{PLEX_DB}"
    assert {"plex-config", "plexfm-data"} <= set(data["volumes"])


def test_compose_matches_the_image() -> None:
    plexfm = compose()["services"]["plexfm"]
    build = plexfm["build"]
    assert (COMPOSE.parent / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE
    _, args = final_stage()
    assert set(build["args"]) <= set(args)
    volume_mounts = mounts(plexfm)
    assert volume_mounts["/data"][0] == "plexfm-data"
    config_source, config_options = volume_mounts["/config/config.yaml"]
    assert config_source == "./config.yaml"
    assert "ro" in config_options.split(",")
    assert plexfm["env_file"], "secrets come from an env_file"
    # default strategy: the host runs the window; plexfm gets no Docker socket, no page port
    assert not any("docker.sock" in s for s in plexfm.get("volumes", []))
    assert "ports" not in plexfm
    assert plexfm["stop_grace_period"] == "15s"


# --- configuration keys and command lines ------------------------------------------------------

def test_deploy_files_name_only_real_settings() -> None:
    unknown = [
        f"{section}.{key} in {', '.join(sorted(where))}"
        for (section, key), where in mentioned_keys().items()
        if (section, key) not in KNOWN_KEYS
    ]
    assert not unknown, "plexfm has no such setting (an unknown PLEXFM_* variable is exit 2):\n" \
        + "\n".join(unknown)


def test_readme_config_examples_load(tmp_path: Path) -> None:
    blocks = readme_config_blocks()
    assert len(blocks) >= 4
    for where, data in blocks:
        try:
            load_example(tmp_path, data, {})
        except ConfigError as exc:
            pytest.fail(f"{where}: plexfm rejects this example: {exc}")


def test_container_environment_loads(tmp_path: Path) -> None:
    """The image's ENV plus compose's environment, as plexfm sees them in the container."""
    stage, _ = final_stage()
    environ = dict(re.findall(r"(PLEXFM_\w+)=(\S+)", " ".join(a for k, a in stage if k == "ENV")))
    assert environ.pop(ENV_CONFIG_PATH) == "/config/config.yaml"
    environ.update(compose()["services"]["plexfm"]["environment"])
    for where, data in readme_config_blocks():
        if where.startswith("deploy/docker/"):
            load_example(tmp_path, data, environ)
    load_example(tmp_path, {}, environ)


def readme_command_lines(text: str) -> list[list[str]]:
    """plexfm argv vectors (without the program) that a README's commands run."""
    lines = []
    for found in re.findall(r"\bplexfm plexfm ([a-z][\w -]*)", text):
        lines.append(found.split())
    for found in re.findall(r"--no-deps plexfm ([a-z][\w -]*)", text):
        lines.append(found.split())
    for found in re.findall(r"^plexfm-admin ([^#\n]+)", text, flags=re.MULTILINE):
        lines.append(shlex.split(found))
    return lines


def deploy_command_lines() -> list[list[str]]:
    """plexfm argv vectors (without the program) that the deploy files run."""
    [exec_start] = unit_values(UNIT.read_text(encoding="utf-8"), "ExecStart")
    stage, _ = final_stage()
    values = dict(stage)
    health = exec_form(values["HEALTHCHECK"].partition("CMD ")[2])
    lines = [shlex.split(exec_start)[1:], exec_form(values["CMD"]), health[1:]]
    for readme in READMES:
        lines.extend(readme_command_lines(readme.read_text(encoding="utf-8")))
    return lines


def command_problems(lines: list[list[str]]) -> list[str]:
    """The command lines plexfm's own parser rejects (a misspelt command among them)."""
    parser = build_parser()
    problems = []
    for argv in lines:
        try:
            parser.parse_args(argv)
        except SystemExit:
            problems.append(" ".join(argv))
    return problems


def test_deploy_command_lines_parse() -> None:
    lines = deploy_command_lines()
    assert len(lines) >= 8
    assert command_problems(lines) == [], "plexfm rejects these deploy commands"


@pytest.mark.reliability("input", "deploy docs with a typo")
@pytest.mark.parametrize(("readme", "good", "typo", "rejected"), [
    (DOCKER, "--no-deps plexfm check-config", "--no-deps plexfm chek-config", "chek-config"),
    (DOCKER, "plexfm plexfm apply --now", "plexfm plexfm aply --now", "aply --now"),
    (SYSTEMD, "plexfm-admin status", "plexfm-admin stauts", "stauts"),
    (SYSTEMD, "plexfm-admin revert --all --now", "plexfm-admin revert --alll --now",
     "revert --alll --now"),
])
def test_a_typo_in_a_deploy_command_is_a_failure(readme: Path, good: str, typo: str,
                                                  rejected: str) -> None:
    text = (readme / "README.md").read_text(encoding="utf-8")
    assert good in text
    assert command_problems(readme_command_lines(text.replace(good, typo, 1))) == [rejected]
