"""The baseline a benchmark compares against: this repository at BASELINE_COMMIT, checked out
beside the working tree, so both designs are measured in the same run on the same machine.

`baseline_tree()` returns the checkout's root (put it first on PYTHONPATH of a child process
to run the old `bridge` package), or None and says why (a clone without history, no git).
The compiled extensions are copied from this tree when their sources did not change, so the
baseline runs the same media code; otherwise it runs the pure twins, and says so.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

# main before the control-plane redesign (issue: joins reported in milliseconds)
BASELINE_COMMIT = "f4e81ad"
ROOT = Path(__file__).resolve().parents[2]
WORKTREE = Path("/tmp") / f"conference-bridge-baseline-{BASELINE_COMMIT}"
EXTENSIONS = ("bridge/media/_mix", "bridge/pbx/embedded/_rtp_core")


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )


@cache
def baseline_tree() -> Path | None:
    """The baseline checkout (made once per machine and commit), or None."""
    if shutil.which("git") is None:
        print("baseline: git is not installed; only the current design is measured")
        return None
    if (WORKTREE / "bridge" / "__init__.py").exists():
        return WORKTREE
    if _git("cat-file", "-e", f"{BASELINE_COMMIT}^{{commit}}").returncode != 0:
        print(f"baseline: commit {BASELINE_COMMIT} is not in this clone; not measured")
        return None
    shutil.rmtree(WORKTREE, ignore_errors=True)
    WORKTREE.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", BASELINE_COMMIT],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        print(f"baseline: git archive failed: {archive.stderr.decode(errors='replace')}")
        return None
    subprocess.run(["tar", "-x", "-C", str(WORKTREE)], input=archive.stdout, check=True)
    for stem in EXTENSIONS:
        same = _git("diff", "--quiet", BASELINE_COMMIT, "--", f"{stem}.pyx").returncode == 0
        built = sorted((ROOT / stem).parent.glob(Path(stem).name + ".*.so"))
        if same and built:
            shutil.copy2(built[0], WORKTREE / Path(stem).parent / built[0].name)
        else:
            print(f"baseline: {stem} runs its pure twin (source changed or not built)")
    return WORKTREE
