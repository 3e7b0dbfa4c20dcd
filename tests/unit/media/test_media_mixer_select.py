"""Which mixer runs: extension if built, pure twin if forced or missing, error if required."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

import pytest

from bridge.media import mix_py

EXTENSION = "bridge.media._mix"
EXTENSION_BUILT = importlib.util.find_spec(EXTENSION) is not None


def load_mixer() -> ModuleType:
    # Imported here, not at module level: with BRIDGE_REQUIRE_EXTENSIONS=1 and no build the
    # import itself raises, and that must show up as failing tests, not a collection error.
    return importlib.import_module("bridge.media.mixer")


def test_no_extensions_forces_the_pure_twin() -> None:
    mix, name = load_mixer().select_implementation(
        {"BRIDGE_NO_EXTENSIONS": "1", "BRIDGE_REQUIRE_EXTENSIONS": "1"}
    )
    assert (mix, name) == (mix_py.mix, "python")


def test_missing_extension_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    mixer = load_mixer()
    monkeypatch.setitem(sys.modules, EXTENSION, None)  # import now fails
    assert mixer.select_implementation({}) == (mix_py.mix, "python")


def test_missing_extension_is_fatal_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    mixer = load_mixer()
    monkeypatch.setitem(sys.modules, EXTENSION, None)
    with pytest.raises(ImportError, match="BRIDGE_REQUIRE_EXTENSIONS=1"):
        mixer.select_implementation({"BRIDGE_REQUIRE_EXTENSIONS": "1"})


@pytest.mark.skipif(not EXTENSION_BUILT, reason="Cython extension not built")
def test_built_extension_is_preferred() -> None:
    mix, name = load_mixer().select_implementation({})
    assert name == "cython"
    assert mix is not mix_py.mix


def test_running_implementation_follows_the_environment() -> None:
    # CI runs the suite once with each variable set; this checks the one it asked for.
    implementation = load_mixer().IMPLEMENTATION
    if os.environ.get("BRIDGE_NO_EXTENSIONS") == "1":
        assert implementation == "python"
    elif os.environ.get("BRIDGE_REQUIRE_EXTENSIONS") == "1" or EXTENSION_BUILT:
        assert implementation == "cython"
    else:
        assert implementation == "python"
