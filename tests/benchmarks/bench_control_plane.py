"""The control plane in process: engine observations applied per second, and the memory of
10,000 live participants, each beside the baseline design measured in the same run.

Every figure comes from tests/benchmarks/control_plane_probe.py in a child process: once on
this tree, once on the baseline tree (tests/benchmarks/baseline.py). The baseline applies
each observation in its own transaction, so it gets fewer observations and participants (its
figures are rates and per-participant costs, which do not depend on the count). Prints the
figures; asserts only that the probes ran.

    python -m pytest tests/benchmarks/bench_control_plane.py -m benchmark -s
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from baseline import ROOT, baseline_tree
from harness import reset_postgres

pytestmark = pytest.mark.benchmark

PROBE = Path(__file__).resolve().parent / "control_plane_probe.py"
POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL")
CALLERS = 200
OBSERVATIONS = {"current": 20_000, "baseline": 1_000}
LIVE_CONFERENCES = {"current": 50, "baseline": 5}  # x CALLERS participants


def _reset_postgres(url: str) -> None:
    asyncio.run(reset_postgres(url))


def _probe(tree: Path, work: Path, database: str, *args: str) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    if database == "postgres":
        assert POSTGRES_URL
        _reset_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{work / 'bridge.db'}"
    env = {**os.environ, "PYTHONPATH": f"{tree}:{tree / 'tests'}"}
    out = subprocess.run(
        [sys.executable, str(PROBE), args[0], url, str(work), *args[1:]],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, f"probe failed:\n{out.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _databases() -> list[str]:
    return ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


def test_observations_applied_per_second(tmp_path: Path) -> None:
    trees = {"current": ROOT, "baseline": baseline_tree()}
    print("\nobservations applied in process (TalkingChanged round a room of 200)")
    print(f"  {'database':9} {'design':9} {'observations':>12} {'seconds':>8} {'per second':>11}")
    for database in _databases():
        for design, tree in trees.items():
            if tree is None:
                print(f"  {database:9} {design:9} not measured (no baseline tree)")
                continue
            n = str(OBSERVATIONS[design])
            r = _probe(tree, tmp_path / design / database, database, "observations", "200", n)
            print(
                f"  {database:9} {design:9} {r['observations']:>12} {r['seconds']:>8.2f}"
                f" {r['per_second']:>11,.0f}"
            )
    print("  target: >= 10,000/s on SQLite")


def test_memory_of_live_participants(tmp_path: Path) -> None:
    trees = {"current": ROOT, "baseline": baseline_tree()}
    print("\nlive participants in one process (dial-ins of the FakeBackend, SQLite)")
    print(
        f"  {'design':9} {'participants':>12} {'RSS before':>10} {'RSS after':>10}"
        f" {'KB each':>8} {'joins s':>8}"
    )
    for design, tree in trees.items():
        if tree is None:
            print(f"  {design:9} not measured (no baseline tree)")
            continue
        confs = str(LIVE_CONFERENCES[design])
        r = _probe(tree, tmp_path / design, "sqlite", "memory", confs, str(CALLERS))
        print(
            f"  {design:9} {r['participants']:>12} {r['rss_before_mb']:>8.0f}MB"
            f" {r['rss_after_mb']:>8.0f}MB {r['kb_per_participant']:>8.1f}"
            f" {r['join_seconds']:>8.1f}"
        )
    print("  target: 10,000 live participants under 500 MB RSS")
