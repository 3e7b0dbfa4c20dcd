// The operator console. Plain script, no build step, no third-party code.
// Every piece of user text goes into the page as a text node (textContent), never as
// HTML; the Content-Security-Policy forbids inline script and other origins anyway.
// The API key lives in sessionStorage (this tab only) and travels as the Authorization
// header: no cookie, so no cross-site request can act with it.
"use strict";

(function () {
  const KEY = "bridge.api_key";
  const ACTING = "bridge.acting"; // an admin's chosen account (X-Bridge-Account)
  const LOG_SIZE = 200;
  const state = { account: null, view: null, log: [], stream: null, acting: null };

  function authHeaders() {
    const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY) };
    if (state.acting) headers["X-Bridge-Account"] = state.acting;
    return headers;
  }

  // --- DOM helpers -----------------------------------------------------------------
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // replaceChildren would show a null as the text "null"
  function fill(node, ...children) {
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined &&
      c !== false));
  }

  function table(headers, rows, attrs) {
    return el("table", attrs,
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows));
  }

  function cell(label, ...children) { return el("td", { "data-label": label }, ...children); }

  function time(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return el("time", { datetime: iso, title: iso }, d.toLocaleTimeString());
  }

  let toastTimer = 0;
  function toast(text) {
    $("toast").textContent = text;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { $("toast").textContent = ""; }, 4000);
  }

  // --- API -------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(err.message || `HTTP ${status}`);
      this.status = status;
      this.code = err.code || "http_" + status;
    }
  }

  // `account`: an admin's read of that account (X-Bridge-Account), whoever is chosen
  async function api(method, path, body, account) {
    const headers = authHeaders();
    if (account) headers["X-Bridge-Account"] = account;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const type = resp.headers.get("Content-Type") || "";
    const data = type.startsWith("application/json") ? await resp.json() : null;
    if (resp.status === 401 && path !== "/v1/account") { signOut("Your key was refused."); }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  async function act(what, method, path, body) {
    try {
      await api(method, path, body);
      toast(what + ": done");
    } catch (e) {
      toast(what + ": " + e.message + " (" + e.code + ")");
    }
  }

  // --- the live event stream (fetch, not EventSource: it must send the header) -----
  function openStream() {
    const s = { lastId: null, stopped: false, ctrl: null };
    const live = $("live");
    const setLive = (on) => {
      live.className = "live " + (on ? "on" : "off");
      live.textContent = on ? "live" : "offline";
    };
    async function run() {
      while (!s.stopped) {
        s.ctrl = new AbortController();
        try {
          const headers = authHeaders();
          if (s.lastId) headers["Last-Event-ID"] = s.lastId; // resume: nothing lost, nothing twice
          const resp = await fetch("/v1/events/stream", { headers, signal: s.ctrl.signal,
            cache: "no-store" });
          if (resp.status === 401) { signOut("Your key was refused."); return; }
          if (!resp.ok || !resp.body) throw new Error("HTTP " + resp.status);
          const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              message(block, setLive);
            }
          }
        } catch (e) {
          if (s.stopped) return;
        }
        setLive(false);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    function message(block, setLive) {
      const fields = {};
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const at = line.indexOf(":");
        const name = at < 0 ? line : line.slice(0, at);
        fields[name] = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      }
      if (fields.data === undefined) return;
      const data = JSON.parse(fields.data);
      if (fields.event === "ready") {
        if (data.last_event_id) s.lastId = data.last_event_id;
        setLive(true);
      } else if (fields.event === "error") {
        if (data.last_event_id) s.lastId = data.last_event_id;
        toast("Event stream: " + data.message);
      } else if (!fields.event) {
        if (fields.id) s.lastId = fields.id;
        onEvent(data);
      }
    }
    s.stop = () => { s.stopped = true; if (s.ctrl) s.ctrl.abort(); setLive(false); };
    run();
    return s;
  }

  function onEvent(ev) {
    state.log.push(ev);
    if (state.log.length > LOG_SIZE) state.log.shift();
    if (state.view && state.view.onEvent) state.view.onEvent(ev);
  }

  function logItem(ev) {
    const name = ev.data && typeof ev.data.name === "string" ? ev.data.name + " " : "";
    const subject = ev.participant_id ? " " + name + ev.participant_id : "";
    return el("li", {}, time(ev.occurred_at), " ", ev.type, subject, " ",
      el("span", { class: "muted-text" }, JSON.stringify(ev.data)));
  }

  // --- sign in / out ---------------------------------------------------------------
  async function signIn(key) {
    sessionStorage.setItem(KEY, key);
    state.acting = null;
    try {
      state.account = await api("GET", "/v1/account");
    } catch (e) {
      sessionStorage.removeItem(KEY);
      throw e;
    }
    $("sign-in").hidden = true;
    $("nav").hidden = false;
    $("nav-accounts").hidden = !state.account.is_admin;
    $("acting-box").hidden = !state.account.is_admin;
    if (state.account.is_admin) await loadAccounts();
    state.stream = openStream();
    route();
  }

  // an admin key sees every account: the chosen one's conferences, events and actions
  async function loadAccounts() {
    const page = await api("GET", "/v1/accounts?limit=200");
    const saved = sessionStorage.getItem(ACTING);
    const pick = $("acting");
    fill(pick, page.items.map((a) => el("option", { value: a.id,
      selected: a.id === (saved || state.account.id) }, (a.name || a.id) + " (" + a.id + ")")));
    state.acting = page.items.some((a) => a.id === saved) ? saved : null;
  }

  function chooseAccount(id) {
    state.acting = id === state.account.id ? null : id;
    if (state.acting) sessionStorage.setItem(ACTING, id); else sessionStorage.removeItem(ACTING);
    if (state.stream) state.stream.stop();
    state.log = [];
    state.stream = openStream();
    route();
  }

  function signOut(reason) {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ACTING);
    state.acting = null;
    if (state.stream) state.stream.stop();
    state.stream = null;
    state.account = null;
    state.log = [];
    $("nav").hidden = true;
    $("view").replaceChildren();
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = reason || "";
    $("key").value = "";
    $("key").focus();
  }

  // --- views -----------------------------------------------------------------------
  function debounce(fn, ms) {
    let t = 0;
    return () => { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  function show(view) {
    state.view = view;
    $("view").replaceChildren(view.node);
  }

  function conferencesView() {
    const node = el("div", { id: "conferences" });
    const view = { node };
    async function render() {
      const [confs, resv] = await Promise.all([
        api("GET", "/v1/conferences?limit=100"),
        api("GET", "/v1/reservations?limit=100"),
      ]);
      if (state.view !== view) return;
      const active = confs.items.filter((c) => c.status !== "terminated");
      const rows = active.map((c) => el("tr", { "data-conference-id": c.id },
        cell("Name", el("a", { href: "#/conferences/" + encodeURIComponent(c.id) },
          c.name || c.id), c.alias ? el("div", { class: "muted-text" }, c.alias) : null),
        cell("Status", c.status),
        cell("Participants", el("span", { class: "count" }, c.participant_count)),
        cell("Recording", c.recording_id ? "recording" : "—"),
        cell("Started", time(c.started_at))));
      const upcoming = resv.items.filter((r) => r.status === "reserved" || r.status === "holding");
      const resvRows = upcoming.map((r) => el("tr", {},
        cell("Name", r.conference_name), cell("Starts", time(r.start_datetime)),
        cell("Ends", time(r.end_datetime)), cell("Seats", r.max_participants),
        cell("Status", r.status)));
      fill(node, el("h2", {}, "Conferences"),
        active.length ? table(["Name", "Status", "Participants", "Recording", "Started"], rows)
          : el("p", { class: "muted-text" }, "No active conferences."),
        el("h2", {}, "Upcoming reservations"),
        upcoming.length ? table(["Name", "Starts", "Ends", "Seats", "Status"], resvRows)
          : el("p", { class: "muted-text" }, "No upcoming reservations."));
    }
    const again = debounce(() => render().catch(failed), 150);
    view.onEvent = (ev) => {
      if (ev.type.startsWith("conference.") || ev.type === "participant.joined" ||
          ev.type === "participant.left" || ev.type.startsWith("recording.")) again();
    };
    render().catch(failed);
    return view;
  }

  function conferenceView(cid) {
    const base = "/v1/conferences/" + encodeURIComponent(cid);
    const head = el("div", {});
    const body = el("tbody", {});
    const log = el("ol", { class: "log", "aria-label": "Event log" });
    const say = el("input", { id: "announce-text", name: "text", maxlength: 1000,
      placeholder: "text to say, or a file: name.wav" });
    const announce = el("form", { class: "inline", onsubmit: (e) => {
      e.preventDefault();
      const text = say.value.trim();
      if (!text) return;
      const media = text.startsWith("file:") ? { play: { file: text.slice(5).trim() } }
        : { say: { text } };
      act("Announcement", "POST", base + "/announcements", { media });
    } }, el("div", {}, el("label", { for: "announce-text" }, "Play an announcement"), say),
      el("button", { type: "submit" }, "Play"));
    const node = el("div", { id: "conference" }, head,
      el("section", { "aria-labelledby": "people" }, el("h3", { id: "people" }, "Participants"),
        el("table", {}, el("thead", {}, el("tr", {}, ["Name / caller id", "Status", "Talking",
          "State", "Joined", "Actions"].map((h) => el("th", { scope: "col" }, h)))), body)),
      el("section", {}, announce),
      el("section", { "aria-labelledby": "events" }, el("h3", { id: "events" }, "Live events"), log));
    const view = { node };
    const rows = new Map(); // participant id -> { revision, tr }
    let conf = null;

    function renderHead() {
      const recording = conf.recording_id;
      fill(head, el("p", {}, el("a", { href: "#/conferences" }, "← Conferences")),
        el("h2", { id: "conference-name" }, conf.name || conf.id),
        conf.alias ? el("p", { id: "conference-alias" }, conf.alias) : null,
        el("p", {}, "Status: ", el("strong", { id: "conference-status" }, conf.status),
          " · participants: ", el("span", { id: "participant-count" }, conf.participant_count),
          " · recording: ", el("span", { id: "recording-state" }, recording ? "on" : "off")),
        el("div", { class: "actions" },
          recording
            ? el("button", { type: "button", onclick: () => act("Stop recording", "PATCH",
                base + "/recordings/" + encodeURIComponent(recording), { status: "stopped" }) },
              "Stop recording")
            : el("button", { type: "button", disabled: conf.status === "terminated",
                onclick: () => act("Start recording", "POST", base + "/recordings") },
              "Start recording"),
          el("button", { type: "button", class: "danger", disabled: conf.status === "terminated",
            onclick: () => {
              if (confirm("End the conference for everyone?")) act("End", "DELETE", base);
            } }, "End conference")));
    }

    function flag(on, name) { return on ? el("span", { class: "flag" }, name) : null; }

    function toggle(p, field, on, off) {
      const now = p[field];
      return el("button", { type: "button", "aria-pressed": now ? "true" : "false",
        "data-action": field,
        onclick: () => act(now ? off : on, "PATCH", base + "/participants/" +
          encodeURIComponent(p.id), { [field]: !now }) }, now ? off : on);
    }

    function participantRow(p) {
      const gone = p.status === "left" || p.status === "failed";
      return el("tr", { "data-participant-id": p.id },
        cell("Name / caller id", el("span", { class: "pname" }, p.name || "—"),
          el("div", { class: "caller-id" }, p.direction === "outbound" ? p.to : p.from || "unknown"),
          el("div", { class: "muted-text" }, p.direction, p.moderator ? " · moderator" : "")),
        cell("Status", el("span", { class: "status" }, p.status)),
        cell("Talking", el("span", { class: "talking" + (p.talking ? " on" : ""),
          "data-talking": p.talking ? "true" : "false" }, p.talking ? "talking" : "quiet")),
        cell("State", flag(p.muted, "muted"), flag(p.deaf, "deaf"), flag(p.hold, "hold")),
        cell("Joined", time(p.joined_at)),
        cell("Actions", gone ? "—" : el("div", { class: "actions" },
          toggle(p, "muted", "Mute", "Unmute"), toggle(p, "deaf", "Deafen", "Undeafen"),
          toggle(p, "hold", "Hold", "Resume"),
          el("button", { type: "button", class: "danger", "data-action": "kick",
            onclick: () => act("Kick", "DELETE", base + "/participants/" +
              encodeURIComponent(p.id)) }, "Kick"))));
    }

    function upsert(p) {
      const had = rows.get(p.id);
      if (had && had.revision > p.revision) return; // an older read arriving late
      const tr = participantRow(p);
      if (had) had.tr.replaceWith(tr); else body.append(tr);
      rows.set(p.id, { revision: p.revision, tr });
    }

    async function refreshConference() {
      conf = await api("GET", base);
      if (state.view === view) renderHead();
    }
    async function refreshParticipant(pid) {
      const p = await api("GET", base + "/participants/" + encodeURIComponent(pid));
      if (state.view === view) upsert(p);
    }
    async function render() {
      await refreshConference();
      const page = await api("GET", base + "/participants?limit=100");
      if (state.view !== view) return;
      page.items.filter((p) => p.status !== "left" && p.status !== "failed").forEach(upsert);
      fill(log, ...state.log.filter((e) => e.conference_id === cid).map(logItem));
    }
    const headAgain = debounce(() => refreshConference().catch(failed), 100);
    view.onEvent = (ev) => {
      if (ev.conference_id !== cid) return;
      log.append(logItem(ev));
      while (log.children.length > LOG_SIZE) log.firstChild.remove();
      log.scrollTop = log.scrollHeight;
      if (ev.participant_id) refreshParticipant(ev.participant_id).catch(failed);
      if (!ev.participant_id || ev.type === "participant.joined" ||
          ev.type === "participant.left") headAgain();
    };
    render().catch(failed);
    return view;
  }

  function webhooksView() {
    const node = el("div", { id: "webhooks" });
    const view = { node };
    async function render() {
      const [pending, dead, subs] = await Promise.all([
        api("GET", "/v1/deliveries?status=pending&limit=100"),
        api("GET", "/v1/deliveries?status=dead&limit=100"),
        api("GET", "/v1/webhooks"),
      ]);
      if (state.view !== view) return;
      const rowOf = (d, retry) => el("tr", { "data-delivery-id": d.id },
        cell("Delivery", d.id), cell("Event", d.event_id || "—"),
        cell("Attempts", d.attempts ?? "—"), cell("Last error", d.last_error || "—"),
        cell("Created", time(d.created_at)),
        cell("Action", retry ? el("button", { type: "button", onclick: async () => {
          await act("Retry", "POST", "/v1/deliveries/" + encodeURIComponent(d.id) + "/retry");
          render().catch(failed);
        } }, "Retry") : "—"));
      const headers = ["Delivery", "Event", "Attempts", "Last error", "Created", "Action"];
      fill(node, el("h2", {}, "Webhook health"),
        el("p", {}, el("span", { id: "pending-count" }, pending.items.length), " pending · ",
          el("span", { id: "dead-count" }, dead.items.length), " dead · ",
          subs.items.length, " subscriptions"),
        el("h3", {}, "Dead deliveries"),
        dead.items.length ? table(headers, dead.items.map((d) => rowOf(d, true)))
          : el("p", { class: "muted-text" }, "None."),
        el("h3", {}, "Pending deliveries"),
        pending.items.length ? table(headers, pending.items.map((d) => rowOf(d, false)))
          : el("p", { class: "muted-text" }, "None."),
        el("h3", {}, "Subscriptions"),
        table(["URL", "Events"], subs.items.map((s) => el("tr", {}, cell("URL", s.url),
          cell("Events", (s.events || []).join(", ") || "all")))));
    }
    render().catch(failed);
    return view;
  }

  // every account at a glance: its live conferences and callers, one click to act on it
  function accountsView() {
    const node = el("div", { id: "accounts" });
    const view = { node };
    async function render() {
      const page = await api("GET", "/v1/accounts?limit=100");
      const live = await Promise.all(page.items.map((a) => api("GET",
        "/v1/conferences?status=populated,in_progress&limit=100", undefined, a.id)
        .then((c) => c.items, () => null)));
      if (state.view !== view) return;
      const rows = page.items.map((a, i) => {
        const confs = live[i];
        const callers = confs ? confs.reduce((n, c) => n + (c.participant_count || 0), 0) : "—";
        return el("tr", { "data-account-id": a.id },
          cell("Account", a.id), cell("Name", a.name), cell("Admin", a.is_admin ? "yes" : "no"),
          cell("Live conferences", el("span", { class: "live-count" }, confs ? confs.length : "—")),
          cell("Callers", el("span", { class: "caller-count" }, callers)),
          cell("Created", time(a.created_at)),
          cell("Action", el("button", { type: "button", onclick: () => {
            $("acting").value = a.id;
            location.hash = "#/conferences";
            chooseAccount(a.id);
          } }, "Open")));
      });
      fill(node, el("h2", {}, "Accounts"),
        table(["Account", "Name", "Admin", "Live conferences", "Callers", "Created", "Action"],
          rows));
    }
    const again = debounce(() => render().catch(failed), 500);
    view.onEvent = (ev) => {
      if (ev.type === "participant.joined" || ev.type === "participant.left" ||
          ev.type === "conference.status_changed") again();
    };
    render().catch(failed);
    return view;
  }

  function failed(e) {
    toast(e instanceof ApiError ? e.message + " (" + e.code + ")" : String(e));
  }

  function route() {
    if (!state.account) return;
    const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
    const [section, id] = hash.split("/");
    if (section === "conferences" && id) show(conferenceView(id));
    else if (section === "webhooks") show(webhooksView());
    else if (section === "accounts" && state.account.is_admin) show(accountsView());
    else show(conferencesView());
    $("main").focus({ preventScroll: true });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in").addEventListener("submit", (e) => {
      e.preventDefault();
      $("sign-in-error").textContent = "";
      signIn($("key").value.trim()).catch((err) => {
        $("sign-in-error").textContent = "Sign-in failed: " + err.message;
      });
    });
    $("sign-out").addEventListener("click", () => signOut(""));
    $("acting").addEventListener("change", (e) => chooseAccount(e.target.value));
    window.addEventListener("hashchange", route);
    const saved = sessionStorage.getItem(KEY);
    if (saved) signIn(saved).catch(() => signOut(""));
    else signOut("");
  });
})();
