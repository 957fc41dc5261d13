"""The layout of docs/architecture.md, kept true: who may import whom, no cycles, small modules.

Imports are read from the source (ast), so a rule breaks here the moment a module reaches
across a boundary, before anything runs. Imports under ``if TYPE_CHECKING:`` are type-only
and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "daemon"
MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, bool]]:
    """(imported module, at module level?) for every daemon import outside TYPE_CHECKING."""
    def walk(node: ast.AST, top: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "daemon":
                        yield alias.name, top
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                if base.split(".")[0] != "daemon":
                    continue
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    yield (candidate if candidate in MODULES else base), top
            else:
                inner = top and not isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                yield from walk(child, inner)

    yield from walk(tree, True)


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_name(path) for path in FILES}
GRAPH: dict[str, set[tuple[str, bool]]] = {}
for _path in FILES:
    _name = _module_name(_path)
    GRAPH[_name] = set(_imports(ast.parse(_path.read_text()), _name,
                                _path.name == "__init__.py"))


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _importers_of(target: str) -> list[tuple[str, str]]:
    return sorted((src, dst) for src, deps in GRAPH.items() for dst, _ in deps
                  if _within(dst, target) and not _within(src, target))


# (who, may not import, why) -- the boundaries of docs/architecture.md
RULES = [
    ("daemon.matching", "daemon.store", "matching is pure: frames in, decisions out"),
    ("daemon.matching", "daemon.plex", "matching is pure"),
    ("daemon.matching", "daemon.lastfm", "matching is pure"),
    ("daemon.matching", "daemon.config", "matching is pure"),
    ("daemon.lastfm.client", "daemon.config", "clients take plain values"),
    ("daemon.lastfm.client", "daemon.store", "clients know nothing of the store"),
    ("daemon.lastfm.pacing", "daemon.config", "clients take plain values"),
    ("daemon.lastfm.transport", "daemon.config", "clients take plain values"),
    ("daemon.lastfm.transport", "daemon.store", "clients know nothing of the store"),
    ("daemon.lastfm.pages", "daemon.config", "clients take plain values"),
    ("daemon.lastfm.pages", "daemon.store", "clients know nothing of the store"),
    ("daemon.listenbrainz.client", "daemon.config", "clients take plain values"),
    ("daemon.listenbrainz.client", "daemon.store", "clients know nothing of the store"),
    ("daemon.importers", "daemon.config", "readers take plain values"),
    ("daemon.importers.formats", "daemon.store", "readers know nothing of the store"),
    ("daemon.plex", "daemon.config", "Plex code takes plain values"),
    ("daemon.plex", "daemon.store", "Plex code knows nothing of our store"),
    ("daemon.plex", "daemon.service", "Plex code knows nothing of the scheduler"),
    ("daemon.store", "daemon.lastfm", "the store is the bottom layer"),
    ("daemon.store", "daemon.plex", "the store is the bottom layer"),
    ("daemon.store", "daemon.web", "the store is the bottom layer"),
    ("daemon.store", "daemon.service", "the store is the bottom layer"),
    ("daemon.store", "daemon.apply", "the store is the bottom layer"),
    ("daemon.web", "daemon.plex.writer", "the page never writes Plex"),
    ("daemon.web", "daemon.plex.playcounts", "the page never writes Plex"),
    ("daemon.web", "daemon.plex.backup", "the page never writes Plex"),
    ("daemon.web", "daemon.apply.job", "decisions go to the store; the window writes Plex"),
    ("daemon.analytics", "daemon.plex", "analytics read the store only"),
    ("daemon.analytics", "daemon.web", "the page uses analytics, not the reverse"),
]


@pytest.mark.parametrize(("who", "forbidden", "why"), RULES,
                         ids=[f"{w}-x-{f}" for w, f, _ in RULES])
def test_import_direction(who: str, forbidden: str, why: str) -> None:
    offending = sorted(f"{src} -> {dst}" for src, deps in GRAPH.items() if _within(src, who)
                       for dst, _ in deps if _within(dst, forbidden))
    assert not offending, f"{why}: {offending}"


def test_nothing_imports_the_cli_or_the_composition_root() -> None:
    for target, allowed in (("daemon.cli", ("daemon.cli", "daemon.__main__")),
                            ("daemon.app", ("daemon.cli",))):
        offending = [src for src, _ in _importers_of(target)
                     if not any(_within(src, a) for a in allowed)]
        assert not offending, f"{target} is imported by {offending}"


def test_only_the_writer_family_opens_plex_for_writing() -> None:
    """Plex's database is written by daemon.plex.writer (with playcounts and backup) alone:
    no other module may import them, except the apply job and the CLI's restore."""
    family = ("daemon.plex.writer", "daemon.plex.playcounts", "daemon.plex.backup")
    allowed = ("daemon.plex", "daemon.apply", "daemon.cli", "daemon.app")
    offending = [f"{src} -> {dst}" for target in family for src, dst in _importers_of(target)
                 if not any(_within(src, a) for a in allowed)]
    assert not offending


def test_no_import_cycles_at_module_level() -> None:
    edges = {src: {dst for dst, top in deps if top and dst != src}
             for src, deps in GRAPH.items()}
    # a package's __init__ importing its own submodules is a re-export, not a cycle
    for src in edges:
        edges[src] = {d for d in edges[src] if not (d.startswith(src + ".")
                                                   and PACKAGE.joinpath(
                                                       *src.split(".")[1:]).is_dir())}
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if seen.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(edges):
        if node not in seen:
            visit(node)
    assert not cycles, cycles


def test_modules_stay_small() -> None:
    big = {str(p.relative_to(ROOT)): n for p in FILES
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_the_architecture_page_names_every_package() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    packages = sorted({_module_name(p.parent) for p in FILES if p.name == "__init__.py"}
                      - {"daemon"})
    missing = [p for p in packages if f"daemon/{p.split('.', 1)[1].replace('.', '/')}/"
               not in page]
    assert not missing, f"docs/architecture.md does not place {missing}"
