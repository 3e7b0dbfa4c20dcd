"""SIP users come from a TOML table or a JSON object in BRIDGE_SIP_USERS; bad ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import Config, ConfigError, load


def test_default_is_no_users_and_tcp_on() -> None:
    cfg = load(environ={})
    assert cfg.sip_users == {} and cfg.sip_tcp and cfg.sip_realm == ""


def test_environment_takes_a_json_object() -> None:
    cfg = load(environ={"BRIDGE_SIP_USERS": '{"alice": "s3cret,:x", "bob": "md5:0a1b"}'})
    assert cfg.sip_users == {"alice": "s3cret,:x", "bob": "md5:0a1b"}


@pytest.mark.parametrize(
    "text",
    ['[sip_users]\nalice = "pw"\n', '[embedded]\nsip_port = 5070\nsip_users = { alice = "pw" }\n'],
)
def test_toml_table_top_level_or_in_a_section(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    assert load(environ={}, config_file=path).sip_users == {"alice": "pw"}


@pytest.mark.parametrize("value", ["[1, 2]", '{"alice": ""}', '{"alice": 3}', "{not json"])
def test_bad_users_are_a_clear_error(value: str) -> None:
    with pytest.raises(ConfigError, match="sip_users"):
        load(environ={"BRIDGE_SIP_USERS": value})


def test_passwords_stay_out_of_repr() -> None:
    assert "s3cret" not in repr(Config(sip_users={"alice": "s3cret"}))
