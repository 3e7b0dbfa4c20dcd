"""API throughput and latency under 50 concurrent connections, measured with `wrk`.

The bridge runs in a child process (this file run as a script: FakeBackend, no scheduler, no
access log, 127.0.0.1 port 0), so the load generator never shares its interpreter; `wrk` is C
and on two cores is not the bottleneck. Each operation runs `wrk -t2 -c50 -d4s --latency`
with a Lua script for the Authorization header and the POST body:

    GET /healthz                 the floor: aiohttp, routing and one small query, no auth
    GET /v1/conferences/{id}     one conference
    GET /v1/conferences?limit=50 a page of 50
    POST /v1/conferences         create

On SQLite, and on PostgreSQL when BRIDGE_TEST_POSTGRES_URL is set. Beside every figure: the
same server started from the baseline tree (tests/benchmarks/baseline.py), measured in the
same run. Fails if any request failed (non-2xx or socket error); the figures are not asserted,
the goals are printed beside them.

    python -m pytest tests/benchmarks/bench_api.py -m benchmark -s
    BRIDGE_BENCH_API_SECONDS=10 ...           longer runs
    BRIDGE_BENCH_API_PROFILE=/tmp/prof ...    cProfile the current tree's server per operation
                                              (writes <database>-<operation>.prof there)
    BRIDGE_BENCH_API_TREE=/path/to/tree ...   measure that checkout as "current"
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

HERE = Path(__file__).resolve()
# the tree measured as "current": this working tree unless BRIDGE_BENCH_API_TREE names another
ROOT = Path(os.environ.get("BRIDGE_BENCH_API_TREE") or HERE.parents[2]).resolve()
THREADS = 2
CONNECTIONS = 50
SECONDS = int(os.environ.get("BRIDGE_BENCH_API_SECONDS", "4"))
PAGE = 50
SEED = PAGE + 10  # conferences created before measuring, so the list reads a full page
POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL")
PROFILE_DIR = os.environ.get("BRIDGE_BENCH_API_PROFILE")

# the goals, printed beside the figures
GOAL_GET_SHARE = 0.80
GOAL_GET_RPS = 2000.0
GOAL_GET_P99_MS = 20.0
GOAL_POST_RPS = 1000.0


@dataclass(frozen=True)
class Operation:
    key: str
    label: str
    method: str
    path: str  # {id} is a seeded conference
    auth: bool = True


OPERATIONS = (
    Operation("healthz", "GET /healthz (floor)", "GET", "/healthz", auth=False),
    Operation("get", "GET conference", "GET", "/v1/conferences/{id}"),
    Operation("list", f"GET list of {PAGE}", "GET", f"/v1/conferences?limit={PAGE}"),
    Operation("create", "POST conference", "POST", "/v1/conferences"),
)


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int  # non-2xx/3xx responses plus socket errors (connect, read, write, timeout)
    cpu_us: float = 0.0  # the server's CPU time (all its threads) per request


# --- the server process ----------------------------------------------------------------------


def _serve(database_url: str, data_dir: str) -> None:
    """The child: whichever `bridge` and `fakes` PYTHONPATH finds first (current or baseline).

    Prints `READY <url> <admin key> <bridge package dir>`, then reads commands on stdin until
    EOF (the parent closed it or died), each answered with `OK [value]`: `cpu` (the process's
    CPU seconds, every thread), `start` / `stop <file>` (cProfile around an operation).
    """
    import cProfile
    import time

    from aiohttp import web
    from fakes import FakeBackend

    import bridge
    from bridge.app import PARTS, build_app
    from bridge.config import Config

    package = Path(bridge.__file__).resolve().parent

    async def main() -> None:
        config = Config(data_dir=Path(data_dir), database_url=database_url)
        app = build_app(config, backend=FakeBackend(), run_scheduler=False)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(f"READY http://127.0.0.1:{port} {app[PARTS].admin_key} {package}", flush=True)
        loop = asyncio.get_running_loop()
        profiler = cProfile.Profile()
        try:
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                command, _, arg = line.strip().partition(" ")
                answer = ""
                if command == "cpu":
                    answer = f" {time.process_time()}"
                elif command == "start":
                    profiler = cProfile.Profile()
                    profiler.enable()
                elif command == "stop":
                    profiler.disable()
                    profiler.dump_stats(arg)
                print("OK" + answer, flush=True)
        finally:
            await runner.cleanup()

    asyncio.run(main())


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    admin_key: str
    package: Path

    def command(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ok, _, answer = self.proc.stdout.readline().strip().partition(" ")
        assert ok == "OK", (line, ok)
        return answer


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def _server(tree: Path, database_url: str, work: Path) -> Iterator[Server]:
    """The bridge of `tree` in a child process; killed on the way out, whatever happened."""
    work.mkdir(parents=True, exist_ok=True)
    stderr_path = work / "server.stderr"
    env = {**os.environ, "PYTHONPATH": f"{tree}:{tree / 'tests'}"}
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            # -P: not this file's directory on sys.path, only PYTHONPATH's tree
            [sys.executable, "-P", str(HERE), database_url, str(work / "data")],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            raise RuntimeError(
                f"the server of {tree} did not start: {line!r}\n{_tail(stderr_path)}"
            )
        _, url, key, package = line.split()
        server = Server(proc, url, key, Path(package))
        # the child must run the tree it was started for, not the installed package
        assert server.package == (tree / "bridge").resolve(), (server.package, tree)
        yield server
    finally:
        proc.kill()
        proc.wait(timeout=30)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def _reset_postgres(url: str) -> None:
    # imported here: this file also runs as the server under the baseline tree's tests/
    from harness import reset_postgres

    asyncio.run(reset_postgres(url))


def _seed(server: Server) -> list[str]:
    ids = []
    for i in range(SEED):
        body = json.dumps({"name": f"seed {i}", "data": {"i": i}}).encode()
        req = urllib.request.Request(
            server.url + "/v1/conferences",
            data=body,
            headers={
                "Authorization": f"Bearer {server.admin_key}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 201
            ids.append(json.loads(resp.read())["id"])
    return ids


# --- wrk ---------------------------------------------------------------------------------------


def _lua(op: Operation, admin_key: str) -> str:
    lines = []
    if op.auth:
        # json.dumps of an ASCII string is a valid Lua string literal
        lines.append(f'wrk.headers["Authorization"] = {json.dumps("Bearer " + admin_key)}')
    if op.method == "POST":
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            "local threads = 0",
            "function setup(thread)",
            "  threads = threads + 1",
            "  thread:set('tid', threads)",
            "end",
            "local n = 0",
            "function request()",
            "  n = n + 1",
            "  local body = string.format("
            '\'{"name": "bench %d-%d", "data": {"i": %d}}\', tid, n, n)',
            "  return wrk.format(nil, nil, nil, body)",
            "end",
        ]
    return "\n".join(lines) + "\n"


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    assert m, text
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk(output: str) -> Result:
    """wrk 4's report: Requests/sec, the --latency distribution, error counts."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not (rps and p50 and p99 and total):
        raise AssertionError(f"cannot read wrk's report:\n{output}")
    failed = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        failed += int(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        failed += sum(int(g) for g in m.groups())
    return Result(
        float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(total.group(1)), failed
    )


def _wrk(wrk: str, url: str, script: Path) -> Result:
    out = subprocess.run(
        [
            wrk,
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{SECONDS}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 60,
        check=False,
    )
    if out.returncode != 0:
        raise AssertionError(f"wrk failed ({out.returncode}): {out.stderr}{out.stdout}")
    return parse_wrk(out.stdout)


def _measure(
    wrk: str, tree: Path, database: str, database_url: str, work: Path, profile: bool
) -> dict[str, Result]:
    if database == "postgres":
        _reset_postgres(database_url)
    results: dict[str, Result] = {}
    with _server(tree, database_url, work) as server:
        conference_id = _seed(server)[0]
        for op in OPERATIONS:
            script = work / f"{op.key}.lua"
            script.write_text(_lua(op, server.admin_key))
            url = server.url + op.path.format(id=conference_id)
            if profile:
                server.command("start")
            try:
                cpu = float(server.command("cpu"))
                result = _wrk(wrk, url, script)
                cpu = float(server.command("cpu")) - cpu
                results[op.key] = replace(result, cpu_us=cpu / max(result.requests, 1) * 1e6)
            finally:
                if profile:
                    assert PROFILE_DIR is not None
                    target = Path(PROFILE_DIR).resolve() / f"{database}-{op.key}.prof"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    server.command(f"stop {target}")
                    print(f"profile: {target}")
    return results


# --- the report --------------------------------------------------------------------------------


def _cell(r: Result | None) -> str:
    if r is None:
        return f"{'-':>7} {'-':>7} {'-':>7} {'-':>7}"
    return f"{r.rps:>7.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.1f} {r.cpu_us:>7.0f}"


def _share(results: dict[str, Result]) -> float:
    return results["get"].rps / results["healthz"].rps


def _report(
    database: str, now: dict[str, Result], base: dict[str, Result] | None, why_not: str
) -> str:
    title = f"API on {database}: wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s --latency"
    columns = f"{'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'cpu us':>7}"
    lines = ["", title, "cpu us: the server's CPU time per request, all its threads"]
    lines.append(f"{'':<22} {'current':^31} | {'baseline':^31}")
    lines.append(f"{'operation':<22} {columns} | {columns}")
    for op in OPERATIONS:
        then = base[op.key] if base else None
        lines.append(f"{op.label:<22} {_cell(now[op.key])} | {_cell(then)}")
    share = f"GET conference = {_share(now):.0%} of healthz"
    share += f" (baseline {_share(base):.0%})" if base else f"; baseline not measured: {why_not}"
    lines.append(share)
    get, post = now["get"], now["create"]
    goals = (
        (f"GET >= {GOAL_GET_SHARE:.0%} of healthz", _share(now) >= GOAL_GET_SHARE),
        (f"GET >= {GOAL_GET_RPS:.0f} req/s", get.rps >= GOAL_GET_RPS),
        (f"GET p99 <= {GOAL_GET_P99_MS:.0f} ms", get.p99_ms <= GOAL_GET_P99_MS),
        (f"POST >= {GOAL_POST_RPS:.0f} req/s", post.rps >= GOAL_POST_RPS),
    )
    lines.append("goals: " + ", ".join(f"{g} {'met' if ok else 'NOT met'}" for g, ok in goals))
    return "\n".join(lines)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_api_throughput(database: str, tmp_path: Path) -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        if os.environ.get("CI"):
            pytest.fail("wrk is not installed (apt install wrk)")
        pytest.skip("apt install wrk")
    if database != "sqlite":
        if not POSTGRES_URL:
            pytest.skip("set BRIDGE_TEST_POSTGRES_URL to benchmark PostgreSQL")
        try:
            _reset_postgres(POSTGRES_URL)
        except Exception as exc:  # a benchmark never fails on a missing server
            pytest.skip(f"PostgreSQL is not reachable: {exc}")

    def url_of(name: str) -> str:
        if database == "sqlite":
            return f"sqlite:///{tmp_path / name / 'bridge.db'}"
        assert POSTGRES_URL is not None
        return POSTGRES_URL

    from baseline import BASELINE_COMMIT, baseline_tree

    now = _measure(wrk, ROOT, database, url_of("current"), tmp_path / "current", bool(PROFILE_DIR))
    tree = baseline_tree()
    base, why_not = None, ""
    if tree is None:
        why_not = f"no checkout of {BASELINE_COMMIT} (see the baseline: line above)"
    else:
        base = _measure(wrk, tree, database, url_of("baseline"), tmp_path / "baseline", False)
    print(_report(f"{database} (baseline {BASELINE_COMMIT})", now, base, why_not))

    failed = {
        f"{which} {key}": r.failed
        for which, results in (("current", now), ("baseline", base or {}))
        for key, r in results.items()
        if r.failed
    }
    assert not failed, f"requests failed (non-2xx or socket errors): {failed}"


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
