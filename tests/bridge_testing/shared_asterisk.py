"""One Asterisk per test process: only one can run from the root (its chroot, mounts and
spool), so every suite that needs it (tests/asterisk, tests/adoption) shares this one. The
first user starts it, the last one stops it."""

from __future__ import annotations

from secret_guard import register_secret

from bridge_testing.asterisk_pbx import AsteriskPorts, AsteriskProcess, asterisk_root

_pbx: AsteriskProcess | None = None
_users = 0


def acquire() -> AsteriskProcess:
    global _pbx, _users
    if _pbx is None:
        pbx = AsteriskProcess(asterisk_root(), AsteriskPorts.pick())
        register_secret(pbx.secret)  # the AMI secret must never reach the log
        try:
            pbx.start()
            seconds = pbx.wait_fully_booted()
        except BaseException:
            pbx.stop()
            raise
        print(f"\nasterisk: FullyBooted {seconds:.2f}s after start (ports {pbx.ports})")
        _pbx = pbx
    _users += 1
    return _pbx


def release() -> None:
    global _pbx, _users
    _users -= 1
    if _users == 0 and _pbx is not None:
        pbx, _pbx = _pbx, None
        pbx.stop()
