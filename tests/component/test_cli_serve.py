"""`bridge serve` as a newcomer runs it: flags for the first settings, --help listing every
setting with its environment name, and a start-up of a few lines that say where it listens.
The server test starts the real command in a subprocess on free loopback ports."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from bridge_testing.wait import Not, until_sync

from bridge import cli
from bridge.config import Config, describe_settings

FIRST_FLAGS = ["--host", "--port", "--data-dir", "--database-url", "--engine", "--sip-host",
               "--sip-port", "--sip-advertised-host", "--rtp-port-min", "--rtp-port-max",
               "--log-level"]  # fmt: skip


def test_help_lists_every_setting_with_its_environment_name() -> None:
    text = _help()
    for flag in FIRST_FLAGS:
        assert flag in text, flag
    for name, env, _ in describe_settings():
        assert re.search(rf"^\s+{name}\s+{env}\s", text, re.M), name
    assert {name for name, _, _ in describe_settings()} == set(Config.__dataclass_fields__) - {
        "extra"  # unknown keys of a TOML file, not a setting
    }


def _help() -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from bridge.cli import main; main()", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def test_flags_and_set_become_settings(tmp_path: Path) -> None:
    args = cli.parser().parse_args(
        ["serve", "--sip-port", "5070", "--rtp-port-min", "30000", "--data-dir", str(tmp_path),
         "--set", "sip_tcp=false", "--set", "webhook_timeout_seconds=3"]
    )  # fmt: skip
    cfg = cli._config(args)
    assert (cfg.sip_port, cfg.rtp_port_min, cfg.data_dir) == (5070, 30000, tmp_path)
    assert cfg.sip_tcp is False and cfg.webhook_timeout_seconds == 3.0


def test_a_bad_set_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--set", "sip_port"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


def _free(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_start_up_says_where_it_listens_in_a_few_lines(tmp_path: Path) -> None:
    api, sip = _free(socket.SOCK_STREAM), _free(socket.SOCK_DGRAM)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    command = [sys.executable, "-c", "from bridge.cli import main; raise SystemExit(main())",
               "serve", "--data-dir", str(tmp_path / "data"), "--port", str(api),
               "--sip-port", str(sip), "--rtp-port-min", "41000", "--rtp-port-max", "41100",
               "--set", "sip_tcp=false"]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    lines: list[str] = []
    pending = b""

    def started() -> bool | Not:
        nonlocal pending
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            # raw reads: a buffered readline would keep lines select() can no longer see
            chunk = os.read(fd, 65536)
            assert chunk, f"bridge serve exited {proc.wait()}: {lines}"
            pending += chunk
            *complete, pending = pending.split(b"\n")
            lines.extend(line.decode().rstrip() for line in complete)
        return any("admin API key" in line for line in lines) or Not(lines[-5:])

    try:
        until_sync(started, 30, "bridge serve logs its admin API key line", every=0)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0, "SIGTERM is a clean stop"
    assert not any("alembic" in line for line in lines), lines
    info = [line for line in lines if " INFO " in line]
    assert len(info) == 4, info
    text = "\n".join(info)
    assert f"API http://127.0.0.1:{api}" in text
    assert f"SIP UDP on 127.0.0.1:{sip}" in text and "RTP 41000-41100" in text
    assert f"database sqlite:///{tmp_path / 'data' / 'bridge.db'}" in text
    assert f"admin API key in {tmp_path / 'data' / 'admin-api-key'}" in text
