"""The project's test helpers, imported by every suite (as aiohttp.test_utils is):

- `wait`: `until(condition, timeout)`, the one way a test waits;
- `phone`: a SIP phone with an RTP peer that sends tones and keeps what it hears;
- `sipp`: SIPp callers with the scenarios in `scenarios/`;
- `app_client`: `serve_app` (the app on a real server, any engine) and `AdminApi` (`call`, `ok`);
- `embedded`: the application on the embedded engine, and the waits on its participants;
- `live_app`, `real_freeswitch`: the application on a real FreeSWITCH;
- `fake_esl`, `engine_fixtures`: recorded ESL traffic replayed, FakeFreeSwitch, `esl_rig`;
- `loopback`, `tcp_proxy`: the loopback server the fakes share, and a proxy a test can cut;
- `facades`: a tenant in each facade's authorization form, and the live facade rig.

tests/ is on sys.path when pytest runs (its conftest.py is the rootdir's), so
`from bridge_testing.wait import until` works from any test directory.
"""
