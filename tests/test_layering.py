"""The layers of micro import only what the design allows (see docs and design notes).

micro.errors is a leaf; micro.http is sans-IO and needs only the standard library
and micro.errors; micro.server may add micro.http; micro.routing knows no HTTP; no
module of micro imports a plugin distribution.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

MICRO = Path(__file__).resolve().parent.parent / "micro"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files(*parts: str) -> list[Path]:
    target = MICRO.joinpath(*parts)
    if target.suffix == ".py":
        return [target] if target.exists() else []
    return sorted(target.rglob("*.py"))


def micro_imports(paths: list[Path]) -> dict[str, set[str]]:
    return {
        str(p.relative_to(MICRO)): {m for m in imported_modules(p) if m.split(".")[0] == "micro"}
        for p in paths
    }


def third_party(paths: list[Path]) -> dict[str, set[str]]:
    stdlib = sys.stdlib_module_names
    return {
        str(p.relative_to(MICRO)): {
            m for m in imported_modules(p) if m.split(".")[0] not in stdlib | {"micro"}
        }
        for p in paths
    }


def test_errors_is_a_leaf() -> None:
    assert micro_imports(files("errors.py")) == {"errors.py": set()}


@pytest.mark.parametrize("layer", ["http", "server"])
def test_http_and_server_use_only_the_standard_library(layer: str) -> None:
    offenders = {k: v for k, v in third_party(files(layer)).items() if v}
    assert offenders == {}


def test_http_imports_only_errors_and_itself() -> None:
    allowed = ("micro.errors", "micro.http")
    bad = {
        k: {m for m in v if not m.startswith(allowed)}
        for k, v in micro_imports(files("http")).items()
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_server_does_not_reach_above_the_wsgi_line() -> None:
    allowed = ("micro.errors", "micro.http", "micro.server")
    bad = {
        k: {m for m in v if not m.startswith(allowed)}
        for k, v in micro_imports(files("server")).items()
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_routing_knows_no_http() -> None:
    forbidden = ("micro.http", "micro.server", "micro.web")
    bad = {
        k: {m for m in v if m.startswith(forbidden)}
        for k, v in micro_imports(files("routing")).items()
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_no_module_imports_the_bundled_plugins() -> None:
    plugin_packages = {
        p.name for p in (MICRO.parent / "plugins").glob("*/*") if (p / "__init__.py").exists()
    }
    bad = {str(p.relative_to(MICRO)): imported_modules(p) & plugin_packages for p in files("")}
    assert {k: v for k, v in bad.items() if v} == {}
