"""The layering of docs/architecture.md, checked on every import of every module.

Every `import` and `from ... import` counts, wherever it is written: at module level, inside a
function, under `if TYPE_CHECKING:`. The rules (docs/architecture.md says why):

1. the host side (dcvsr_protocol, dcvsr_client, vsdcvsr) never imports torch or the engine;
2. each package imports only the packages under it: dcvsr_protocol none of ours, dcvsr_client the
   protocol, vsdcvsr the client and the protocol, dcvsr_engine the protocol (the client only in
   its serve/status/stop front end, which is a client);
3. inside the engine, a part imports only parts of lower layers (nothing below the server imports
   the server);
4. no import circles between modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "dcvsr_protocol": ROOT / "client" / "dcvsr_protocol",
    "dcvsr_client": ROOT / "client" / "dcvsr_client",
    "vsdcvsr": ROOT / "plugin" / "vsdcvsr",
    "dcvsr_engine": ROOT / "dcvsr_engine",
    "dcvsr_install": ROOT / "installers" / "dcvsr_install",
}
HOST_SIDE = ("dcvsr_protocol", "dcvsr_client", "vsdcvsr")
HEAVY = ("torch", "diffusers", "transformers", "dcvsr_engine")
# Which of our packages each package may import (itself always).
MAY_IMPORT = {
    "dcvsr_protocol": set(),
    "dcvsr_client": {"dcvsr_protocol"},
    "vsdcvsr": {"dcvsr_client", "dcvsr_protocol"},
    "dcvsr_engine": {"dcvsr_protocol"},
    "dcvsr_install": {"dcvsr_engine", "dcvsr_client", "dcvsr_protocol"},  # installs and checks them all
}
# The engine's one module that is also a client: `dcvsr serve --detach`, `dcvsr status`, `dcvsr stop`.
# And the `dcvsr` command itself, which mounts the installer's install/uninstall/doctor.
ENGINE_FRONT_ENDS = {"dcvsr_engine.server.cli": {"dcvsr_client"}, "dcvsr_engine.cli": {"dcvsr_install"}}
# The engine's layers, lowest first: a part imports parts of lower layers only (and itself).
ENGINE_LAYERS = [
    {"dcvsr_engine", "dcvsr_engine.jsonfile", "dcvsr_engine.sizes", "dcvsr_engine.io",
     "dcvsr_engine.colour"},
    {"dcvsr_engine.model", "dcvsr_engine.attention"},
    {"dcvsr_engine.sampler"},
    {"dcvsr_engine.server", "dcvsr_engine.evaluation", "dcvsr_engine.training", "dcvsr_engine.job"},
    {"dcvsr_engine.cluster"},  # drives job/'s chunks, journal and join on Ray's workers
    {"dcvsr_engine.cli"},
]


def _module_name(path: Path, package: str) -> str:
    parts = [package, *path.relative_to(PACKAGES[package]).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path, package): path
            for package, folder in PACKAGES.items() for path in sorted(folder.rglob("*.py"))}


MODULES = _modules()


def imports(name: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file, relative ones resolved. `from P import n` names
    the module P.n when there is one (importing it), else P."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
            yield from ((node.lineno, sub) for sub in submodules)
            if len(submodules) < len(node.names):
                yield node.lineno, base


def _ours(module: str) -> str | None:
    """The module of this tree an import refers to (itself, or the package that holds the name)."""
    while module and module not in MODULES:
        module = module.rpartition(".")[0]
    return module or None


def _engine_part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _layer(module: str) -> int:
    part = _engine_part(module)
    for rank, parts in enumerate(ENGINE_LAYERS):
        if part in parts:
            return rank
    raise AssertionError(f"{part} is in no layer of ENGINE_LAYERS (docs/architecture.md): place it")


def violations(modules: dict[str, Path] = MODULES) -> list[str]:
    found = []
    for name, path in modules.items():
        package = name.split(".")[0]
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for line, target in imports(name, path):
            top = target.split(".")[0]
            if package in HOST_SIDE and top in HEAVY:
                found.append(f"{where}:{line}: the host side imports {target}")
            elif top in PACKAGES and top != package and top not in MAY_IMPORT[package] \
                    and top not in ENGINE_FRONT_ENDS.get(name, ()):
                found.append(f"{where}:{line}: {package} may not import {top} ({target})")
            elif package == top == "dcvsr_engine" and _engine_part(target) != _engine_part(name) \
                    and _layer(target) >= _layer(name):
                found.append(f"{where}:{line}: {_engine_part(name)} may not import {target} "
                             "(same or higher layer)")
    return found


def circles(modules: dict[str, Path] = MODULES) -> list[list[str]]:
    """Strongly connected groups of more than one module in the import graph (Tarjan)."""
    graph = {name: sorted({t for _, i in imports(name, path) if (t := _ours(i)) and t != name})
             for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in graph:
        if name not in index:
            visit(name)
    return groups


def test_every_package_is_found():
    for package in PACKAGES:
        assert package in MODULES
    assert "dcvsr_engine.server.engine" in MODULES and "dcvsr_protocol.transport.shm" in MODULES


def test_imports_follow_the_layers():
    assert violations() == []


def test_no_import_circles():
    assert circles() == []


@pytest.mark.parametrize("name, source, wanted", [
    ("dcvsr_protocol.settings", "import torch\n", "the host side imports torch"),
    ("vsdcvsr.filter", "def f():\n    from dcvsr_engine.model import load_model\n",
     "the host side imports dcvsr_engine"),
    ("dcvsr_protocol.settings", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
     "    from dcvsr_client import Client\n", "dcvsr_protocol may not import dcvsr_client"),
    ("dcvsr_engine.server.cleanup", "from dcvsr_client import Client\n",
     "dcvsr_engine may not import dcvsr_client"),
    ("dcvsr_engine.sampler.plan", "def f():\n    from ..server import engine\n",
     "dcvsr_engine.sampler may not import dcvsr_engine.server"),
    ("dcvsr_engine.job.render", "def f():\n    from ..cluster import driver\n",
     "dcvsr_engine.job may not import dcvsr_engine.cluster"),
])
def test_the_check_sees_every_kind_of_import(tmp_path, name, source, wanted):
    (tmp_path / "m.py").write_text(source)
    assert any(wanted in v for v in violations({name: tmp_path / "m.py"}))


def test_the_check_sees_a_circle(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from . import engine\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                   "    from .session import ServerSession\n")
    modules = {**MODULES, "dcvsr_engine.server.session": tmp_path / "a.py",
               "dcvsr_engine.server.engine": tmp_path / "b.py"}
    assert ["dcvsr_engine.server.engine", "dcvsr_engine.server.session"] in circles(modules)
