"""The layering of DESIGN.md, and test module names pytest can tell apart."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "core": {"asyncio", "aiohttp", "sqlalchemy", "panoramisk", "greenswitch", "gevent", "socket"},
    "protocols": {
        "asyncio",
        "aiohttp",
        "sqlalchemy",
        "panoramisk",
        "greenswitch",
        "gevent",
        "socket",
    },
    "store": {"bridge.pbx", "bridge.api"},
    "services": {"bridge.api"},
    "webhooks": {"bridge.pbx"},
    "api": {"bridge.store", "bridge.pbx", "bridge.protocols"},
    "pbx": {"bridge.api"},
    "media": {"bridge.pbx", "bridge.store", "bridge.api"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_depend_downward_only(layer: str) -> None:
    bad = []
    for path in sorted((ROOT / "bridge" / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_test_module_names_are_unique() -> None:
    names = Counter(p.name for p in (ROOT / "tests").rglob("*.py") if p.name != "conftest.py")
    assert [n for n, c in names.items() if c > 1] == []
