"""The layers of micro import only what their allow-list names (docs/architecture.md).

Every import of every module under micro/ counts: top-level, lazy (inside a function)
and ``if TYPE_CHECKING:`` ones, absolute or relative (resolved against the module's
package). A module's layer is its first folder under micro/ (``micro/web/app.py`` is
``web``; ``micro/errors.py`` is ``errors``). The rule:

- micro modules: a layer imports itself and the layers its allow-list names, nothing
  else of micro (an unknown ``micro.x`` is refused too: it is not a layer); the
  leaves, ``micro.errors``, ``micro.status`` and ``micro.wsgitypes``, are definitions
  that import nothing of micro (but errors takes its phrases from status) and that
  every layer may import;
- the command line and the testing layer (and micro's ``__init__``) may import any layer;
- other packages: the standard library only, plus the test tools (pytest, WebTest) for
  the testing layer;
- no module of micro imports a plugin distribution, matched by its top-level package
  (``micro_static.http`` is ``micro_static``), nor another module's ``_private`` name.

``test_the_rule_fails_on_planted_violations`` plants violations in a copy of micro/
and checks that the rule reports each one, so that this test cannot pass vacuously.
"""

from __future__ import annotations

import ast
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MICRO = ROOT / "micro"

# Definitions every layer may import; they import nothing of micro but each other.
LEAVES = frozenset({"errors", "status", "wsgitypes"})
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset({"status"}),  # an HTTPError's default reason
    "status": frozenset(),
    "wsgitypes": frozenset(),
    "http": LEAVES,
    "server": LEAVES | {"http"},
    "routing": LEAVES,
    "plugins": LEAVES | {"routing"},
    "web": LEAVES | {"http", "routing", "plugins"},
}
ANYTHING = frozenset({"cli", "testing", "__init__", "__main__"})  # may import every layer
THIRD_PARTY: dict[str, frozenset[str]] = {
    "testing": frozenset({"pytest", "webtest", "_pytest"}),
}
LAYERS = frozenset(ALLOWED) | ANYTHING


def plugin_packages() -> frozenset[str]:
    """Top-level packages of the plugin distributions in this repository."""
    dists = [*(ROOT / "plugins").glob("*"), ROOT / "examples" / "thirdparty_plugin"]
    return frozenset(p.name for d in dists for p in d.glob("*") if (p / "__init__.py").exists())


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """(dotted name, is a package) of a file under ``root`` (the micro/ folder)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imports(path: Path, root: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, absolute module, names taken from it) for every import in ``path``."""
    name, is_package = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module, [a.name for a in node.names]


def layer_of(module: str) -> str:
    """``micro.web.app`` -> ``web``; ``micro`` itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(root: Path, plugins: frozenset[str]) -> list[str]:
    """Every import under ``root`` that breaks the rule, as ``file:line: reason``."""
    stdlib = sys.stdlib_module_names
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        here = layer_of(module_name(path, root)[0])
        where = path.relative_to(root.parent)
        for line, module, names in imports(path, root):
            top = module.split(".")[0]
            if top in plugins:
                found.append(f"{where}:{line}: imports the plugin distribution {module}")
            elif top == "micro":
                target = layer_of(module)
                if target not in LAYERS:
                    found.append(f"{where}:{line}: imports {module}, which is no layer of micro")
                elif here not in ANYTHING and target != here and target not in ALLOWED[here]:
                    allowed = ", ".join(sorted(ALLOWED[here])) or "nothing of micro"
                    found.append(
                        f"{where}:{line}: {here} imports {module} ({here} may import {allowed})"
                    )
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private:
                    found.append(f"{where}:{line}: reads {module}'s private {', '.join(private)}")
            elif top not in stdlib and top not in THIRD_PARTY.get(here, frozenset()):
                found.append(f"{where}:{line}: {here} imports the third-party {module}")
    return found


def test_every_layer_imports_only_what_it_may() -> None:
    assert violations(MICRO, plugin_packages()) == []


def test_every_folder_of_micro_is_a_known_layer() -> None:
    folders = {p.name for p in MICRO.iterdir() if p.is_dir() and p.name != "__pycache__"}
    files = {p.stem for p in MICRO.glob("*.py")}
    assert folders | files <= LAYERS


def test_the_plugin_packages_are_found() -> None:
    assert {"micro_forms", "micro_static", "micro_xsrf", "micro_transforms", "micro_poweredby"} <= (
        plugin_packages()
    )


@pytest.mark.parametrize(
    ("where", "line", "reason"),
    [
        # A relative import reaching above the WSGI line.
        ("server/limits.py", "from ..web import App", "server imports micro.web"),
        # A module that is no layer at all (the old flat micro.request).
        ("routing/_trie.py", "from micro.request import Request", "no layer of micro"),
        # Routing reaching into the framework.
        ("routing/_trie.py", "from micro.web.request import Request", "routing imports"),
        # A plugin distribution, named by a submodule.
        ("web/cookies.py", "import micro_static.http", "plugin distribution micro_static"),
        # A library that belongs in a plugin distribution (micro-forms brings multipart).
        ("web/forms.py", "from multipart import PushMultipartParser", "third-party multipart"),
        ("web/request.py", "import micro_forms", "plugin distribution micro_forms"),
        # A leaf that imports a layer.
        ("wsgitypes.py", "from micro.http import Limits", "wsgitypes imports micro.http"),
        # Another module's private name.
        ("web/app.py", "from micro.web.request import _MISSING", "private _MISSING"),
    ],
)
def test_the_rule_fails_on_planted_violations(
    tmp_path: Path, where: str, line: str, reason: str
) -> None:
    copy = tmp_path / "micro"
    shutil.copytree(MICRO, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert violations(copy, plugin_packages()) == []
    target = copy / where
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    found = violations(copy, plugin_packages())
    assert len(found) == 1 and reason in found[0], found
