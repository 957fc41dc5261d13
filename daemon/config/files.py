"""Reading the configuration file: a small regular UTF-8 file of YAML, or one clear error."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from daemon.errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20


def read_text(path: Path) -> str:
    """The file's text; only a regular file of at most 1 MiB (a FIFO or /dev/zero would hang)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(str(path), "not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(str(path), f"larger than {MAX_CONFIG_BYTES >> 20} MiB: not a "
                              "configuration file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(str(path), "grew past 1 MiB while being read")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(str(path), f"not UTF-8 text (byte {exc.start}, line {line}): save "
                          "it as UTF-8") from None


def read_yaml(path: Path) -> dict[str, Any]:
    text = read_text(path)
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(str(path), "nested too deeply to be a configuration") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(str(path), f"{problem}{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "the top level must be a mapping of sections")
    return data
