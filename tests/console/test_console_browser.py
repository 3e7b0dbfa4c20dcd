"""The console in a real browser (Debian's chromium through Playwright) against the real
application with the embedded engine, and real SIP callers (our RTP phone) on loopback:
a caller who dials in appears without a reload; tone then silence turns the talking
indicator on and off; Mute mutes (the API says so and the other caller stops hearing it);
Kick sends the phone a BYE; hostile names are shown as text; it works on a narrow screen
and by keyboard. A screenshot of each page is saved under artifacts/console/."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from bridge_testing.embedded import Engine, new_phone
from bridge_testing.phone import SipPhone, amplitude
from bridge_testing.wait import until

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.embedded]

HEARD = 1500.0  # a 6000-peak tone arrives at about 6000 (as in tests/embedded)
SILENT = 300.0
HOSTILE = "<img src=x onerror=alert(1)>"


async def signed_in(browser: Browser, engine: Engine, **context: Any) -> tuple[Page, list[str]]:
    """A new tab signed in by keyboard only; `dialogs` collects every alert/confirm shown."""
    page = await (await browser.new_context(**context)).new_page()
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        await (dialog.accept() if dialog.type == "confirm" else dialog.dismiss())

    page.on("dialog", on_dialog)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    resp = await page.goto(str(engine.client.make_url("/console")))
    assert resp is not None and resp.status == 200
    await page.wait_for_selector("#key:focus")  # the sign-in form takes the focus
    await page.keyboard.type(engine.admin_key)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#live.on", timeout=10_000)  # signed in, stream open
    assert errors == [], errors
    return page, dialogs


async def api_participant(engine: Engine, cid: str, pid: str) -> dict[str, Any]:
    body: dict[str, Any] = await engine.ok("GET", f"/v1/conferences/{cid}/participants/{pid}")
    return body


async def until_api(engine: Engine, cid: str, pid: str, field: str, value: object) -> None:
    async def reached() -> bool:
        return bool((await api_participant(engine, cid, pid))[field] == value)

    await until(reached, 10, f"{field} to become {value!r}")


async def joined_id(engine: Engine, cid: str, phone: SipPhone) -> str:
    """The participant id of `phone`'s call, once the API shows it joined."""

    async def mine() -> str | None:
        await engine.settle()
        page = await engine.participants(cid)
        ids = [p["id"] for p in page if p["from"] == phone.name and p["status"] == "joined"]
        return str(ids[0]) if ids else None

    return await until(mine, 10, f"{phone.name} joined")


async def test_live_participants_talking_mute_and_kick(
    engine: Engine, phones: list[SipPhone], browser: Browser, artifacts: Path
) -> None:
    cid = await engine.conference("4401", play_beep="never")
    page, dialogs = await signed_in(browser, engine)
    await page.evaluate("window.notReloaded = true")  # gone if the page reloads
    await page.click(f"tr[data-conference-id='{cid}'] a")
    await page.wait_for_selector("#conference-status")
    assert await page.locator("#conference-alias").count() == 0  # no alias: nothing shown

    alice = await new_phone(phones, "alice")
    bob = await new_phone(phones, "bob")
    assert await alice.call(engine.sip, "4401") == 200
    answered = time.monotonic()
    a = await joined_id(engine, cid, alice)
    row = f"tr[data-participant-id='{a}']"
    await page.wait_for_selector(row, timeout=5_000)
    shown_after = time.monotonic() - answered
    # the goal is 1 s; it is printed here, and the wait above allows for a loaded CI
    print(f"console: caller shown {shown_after * 1000:.0f} ms after the call was answered")
    assert await page.locator(row).inner_text() != ""
    assert await page.evaluate("window.notReloaded") is True

    assert await bob.call(engine.sip, "4401") == 200
    b = await joined_id(engine, cid, bob)
    await page.wait_for_selector(f"tr[data-participant-id='{b}']")
    await page.wait_for_selector("#participant-count:text-is('2')")

    # tone on -> talking; silence -> not talking
    alice.set_tone(500.0)
    await page.wait_for_selector(f"{row} .talking[data-talking='true']", timeout=5_000)
    assert amplitude(await bob.listen(1.0), 500.0) > HEARD, "bob hears alice before mute"
    await page.screenshot(path=str(artifacts / "conference-talking.png"), full_page=True)
    alice.set_tone(None)
    await page.wait_for_selector(f"{row} .talking[data-talking='false']", timeout=5_000)

    # Mute: the API shows muted, and bob stops hearing alice's tone
    alice.set_tone(500.0)
    await page.locator(row).locator("button[data-action='muted']").click()
    await until_api(engine, cid, a, "muted", True)
    await page.wait_for_selector(f"{row} button[data-action='muted'][aria-pressed='true']")
    await bob.listen(0.3)  # what was in flight before the mute
    assert amplitude(await bob.listen(1.0), 500.0) < SILENT, "bob still hears muted alice"
    await page.screenshot(path=str(artifacts / "conference-muted.png"), full_page=True)

    # Kick: bob's phone gets a BYE, and the row goes away from the live view's actions
    await page.locator(f"tr[data-participant-id='{b}'] button[data-action='kick']").click()
    await until(lambda: bob.bye_received, 10.0, "BYE to the kicked phone")
    await until_api(engine, cid, b, "status", "left")
    await page.wait_for_selector(f"tr[data-participant-id='{b}'] .status:text-is('left')")
    log = await page.locator("ol.log").inner_text()
    assert "participant.joined" in log and "participant.left" in log  # the live event log
    assert await page.evaluate("window.notReloaded") is True
    assert dialogs == []

    # End the conference (the console asks first); alice is hung up too
    await page.click("button:text('End conference')")
    await until(lambda: alice.bye_received, 10.0, "BYE when the conference ends")
    await page.wait_for_selector("#conference-status:text-is('terminated')")
    assert [d.split(":")[0] for d in dialogs] == ["confirm"]


async def test_hostile_names_are_text_and_each_page_renders(
    engine: Engine, phones: list[SipPhone], browser: Browser, artifacts: Path
) -> None:
    cid = str(
        (
            await engine.ok(
                "POST", "/v1/conferences", 201,
                json={"name": HOSTILE, "alias": HOSTILE, "dial_in": {"access_code": "4402"}},
            )
        )["id"]
    )  # fmt: skip
    other = await engine.ok("POST", "/v1/accounts", 201, json={"name": HOSTILE})
    start = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%d_%H:%M:00")
    await engine.ok("POST", "/v1/reservations", 201, json={
        "conference_name": "boardmeeting", "start_time": start, "duration": 30,
        "max_participants": 40})  # fmt: skip
    caller = await new_phone(phones, "mallory")
    caller.display_name = HOSTILE  # the SIP From display name: "<img src=x onerror=alert(1)>"
    assert await caller.call(engine.sip, "4402") == 200
    pid = await joined_id(engine, cid, caller)
    assert (await api_participant(engine, cid, pid))["name"] == HOSTILE

    page, dialogs = await signed_in(browser, engine)
    await page.wait_for_selector(f"tr[data-conference-id='{cid}']")
    assert HOSTILE in await page.locator(f"tr[data-conference-id='{cid}']").inner_text()
    assert "boardmeeting" in await page.locator("#conferences").inner_text()  # upcoming
    await page.screenshot(path=str(artifacts / "conferences.png"), full_page=True)

    await page.goto(str(engine.client.make_url(f"/console#/conferences/{cid}")))
    await page.wait_for_selector("#conference-name")  # a new tab load: still signed in
    assert await page.locator("#conference-name").inner_text() == HOSTILE
    assert await page.locator("#conference-alias").inner_text() == HOSTILE
    row = page.locator(f"tr[data-participant-id='{pid}']")
    await row.wait_for()
    assert await row.locator(".pname").inner_text() == HOSTILE  # name, as text
    assert await row.locator(".caller-id").inner_text() == "mallory"  # and caller id
    await page.screenshot(path=str(artifacts / "conference.png"), full_page=True)

    await page.click("a[href='#/webhooks']")
    await page.wait_for_selector("#dead-count")
    await page.screenshot(path=str(artifacts / "webhooks.png"), full_page=True)

    await page.click("a[href='#/accounts']")  # an admin key also sees every account
    await page.wait_for_selector(f"#accounts td:text-is('{other['id']}')")
    assert HOSTILE in await page.locator("#accounts").inner_text()
    await page.screenshot(path=str(artifacts / "accounts.png"), full_page=True)

    assert await page.locator("img").count() == 0, "user text became markup"
    assert dialogs == [], "user text ran as script"

    # the browser enforces the policy: an inline script put into the page does not run
    blocked = await page.evaluate(
        """() => new Promise((done) => {
            document.addEventListener("securitypolicyviolation", (e) => done(e.violatedDirective));
            const s = document.createElement("script");
            s.textContent = "window.inlineRan = true";
            document.body.append(s);
        })"""
    )
    assert blocked.startswith("script-src") and await page.evaluate("window.inlineRan") is None
    # the policy forbids inline script and foreign origins
    resp = await engine.client.get("/console")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp


async def test_narrow_screen_and_keyboard(
    engine: Engine, phones: list[SipPhone], browser: Browser, artifacts: Path
) -> None:
    cid = await engine.conference("4403", play_beep="never")
    caller = await new_phone(phones, "carol")
    assert await caller.call(engine.sip, "4403") == 200
    pid = await joined_id(engine, cid, caller)
    page, _ = await signed_in(browser, engine, viewport={"width": 360, "height": 740})
    link = page.locator(f"tr[data-conference-id='{cid}'] a")
    await link.focus()
    await page.keyboard.press("Enter")  # follow the link by keyboard
    mute = page.locator(f"tr[data-participant-id='{pid}'] button[data-action='muted']")
    await mute.focus()
    await page.keyboard.press("Enter")  # press the button by keyboard
    await until_api(engine, cid, pid, "muted", True)
    wide = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert wide <= 0, f"the page scrolls sideways on a narrow screen by {wide}px"
    await page.screenshot(path=str(artifacts / "conference-narrow.png"), full_page=True)
    # sign out: the key is gone from the tab
    await page.click("#sign-out")
    assert await page.evaluate("sessionStorage.length") == 0


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_recording_announcement_and_webhook_retry(
    engine: Engine, phones: list[SipPhone], browser: Browser, artifacts: Path
) -> None:
    await engine.ok(
        "POST", "/v1/webhooks", 201, json={"url": f"http://127.0.0.1:{closed_port()}/hook"}
    )
    cid = await engine.conference("4404", play_beep="never")
    caller = await new_phone(phones, "dave")
    assert await caller.call(engine.sip, "4404") == 200
    await joined_id(engine, cid, caller)
    page, _ = await signed_in(browser, engine)
    await page.goto(str(engine.client.make_url(f"/console#/conferences/{cid}")))
    await page.wait_for_selector("#recording-state:text-is('off')")

    await page.click("button:text('Start recording')")
    await page.wait_for_selector("#recording-state:text-is('on')")
    conf = await engine.ok("GET", f"/v1/conferences/{cid}")
    assert conf["recording_id"] is not None
    await page.click("button:text('Stop recording')")
    await page.wait_for_selector("#recording-state:text-is('off')")
    recording = await engine.ok("GET", f"/v1/conferences/{cid}/recordings/{conf['recording_id']}")
    assert recording["status"] in ("stopped", "completed"), recording

    # an announcement from the media directory, heard by the caller
    await page.fill("#announce-text", "file: ann2000.wav")
    mark = time.monotonic()
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#toast:text-is('Announcement: done')")
    await until(
        lambda: amplitude(caller.heard_since(mark)[-8000:], 2000.0) > HEARD, 10.0, "announcement"
    )

    # every event went to a closed port: dead-lettered; Retry sends one again
    await page.click("a[href='#/webhooks']")

    async def dead_shown() -> bool:
        if await page.locator("#webhooks button:text('Retry')").count():
            return True
        await page.click("a[href='#/conferences']")  # away and back: the page reads again
        await page.click("a[href='#/webhooks']")
        await page.wait_for_selector("#dead-count")
        return False

    await until(dead_shown, 10, "a dead delivery shown")
    await page.screenshot(path=str(artifacts / "webhooks-dead.png"), full_page=True)
    first = page.locator("#webhooks tr[data-delivery-id]").first
    delivery_id = await first.get_attribute("data-delivery-id")
    before = await delivery(engine, delivery_id)
    await first.locator("button:text('Retry')").click()
    await page.wait_for_selector("#toast:text-is('Retry: done')")

    # re-queued and tried again (and, the port still closed, dead-lettered again)
    async def retried() -> bool:
        return bool((await delivery(engine, delivery_id))["attempts"] > before["attempts"])

    await until(retried, 10, "the retried delivery sent again")


async def delivery(engine: Engine, delivery_id: str | None) -> dict[str, Any]:
    page = await engine.ok("GET", "/v1/deliveries?limit=100")
    found: dict[str, Any] = next(d for d in page["items"] if d["id"] == delivery_id)
    return found


async def test_admin_sees_and_acts_on_another_account(
    engine: Engine, phones: list[SipPhone], browser: Browser, artifacts: Path
) -> None:
    other = await engine.ok("POST", "/v1/accounts", 201, json={"name": "tenant two"})
    key = (await engine.ok("POST", f"/v1/accounts/{other['id']}/keys", 201, json={}))["key"]
    tenant = {"Authorization": f"Bearer {key}"}
    resp = await engine.client.post(
        "/v1/conferences", headers=tenant,
        json={"name": "theirs", "dial_in": {"access_code": "4405"}, "play_beep": "never"},
    )  # fmt: skip
    assert resp.status == 201, await resp.text()
    cid = (await resp.json())["id"]
    caller = await new_phone(phones, "erin")
    assert await caller.call(engine.sip, "4405") == 200
    base = f"/v1/conferences/{cid}/participants"

    async def joined_items() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (
            await (await engine.client.get(base, headers=tenant)).json()
        )["items"]
        return items if items and items[0]["status"] == "joined" else None

    items = await until(joined_items, 10, "erin joined")
    pid = items[0]["id"]
    # tenant isolation is unchanged: a tenant key cannot act as another account
    admin_account = (await engine.ok("GET", "/v1/account"))["id"]
    resp = await engine.client.get(
        "/v1/conferences", headers={**tenant, "X-Bridge-Account": admin_account}
    )
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "admin_only"

    page, _ = await signed_in(browser, engine)
    assert await page.locator(f"tr[data-conference-id='{cid}']").count() == 0  # own account
    # every account at a glance: the other one has a live conference with one caller
    await page.click("a[href='#/accounts']")
    account_row = page.locator(f"#accounts tr[data-account-id='{other['id']}']")
    await account_row.locator(".caller-count:text-is('1')").wait_for()
    assert await account_row.locator(".live-count").inner_text() == "1"
    await page.screenshot(path=str(artifacts / "accounts-overview.png"), full_page=True)
    await account_row.locator("button:text-is('Open')").click()  # act on it
    assert await page.locator("#acting").input_value() == other["id"]
    link = page.locator(f"tr[data-conference-id='{cid}'] a")
    await link.wait_for()
    await page.screenshot(path=str(artifacts / "conferences-other-account.png"), full_page=True)
    await link.click()
    row = page.locator(f"tr[data-participant-id='{pid}']")
    await row.wait_for()
    await page.wait_for_selector("#live.on")  # the stream of the chosen account
    await row.locator("button[data-action='muted']").click()

    async def muted() -> bool:
        return bool(
            (await (await engine.client.get(f"{base}/{pid}", headers=tenant)).json())["muted"]
        )

    await until(muted, 10, "the admin's Mute reaching the other account")
    # the event came through the chosen account's live stream
    await page.wait_for_selector(f"tr[data-participant-id='{pid}'] button[aria-pressed='true']")
    await page.wait_for_selector("ol.log li:has-text('participant.updated')", timeout=5_000)
    await page.screenshot(path=str(artifacts / "conference-other-account.png"), full_page=True)
