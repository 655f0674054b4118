"""The websocket broadcaster with real websockets clients on loopback: schema of every message
type, subscriptions, token / origin / max-clients / garbage / huge-frame close codes, TLS, the
hub that monitors publish into, and a stalled client that must cost nobody anything."""
from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from live_fixtures import classifier, scene, tiny_model_dir, tls_cert, utterances  # noqa: F401  (fixtures)

websockets = pytest.importorskip("websockets")
jsonschema = pytest.importorskip("jsonschema")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from ser_live.bus import EventBus  # noqa: E402
from ser_live.events import EmotionEvent, Status, epoch_of, iso_now  # noqa: E402
from ser_live.labels import LABELS  # noqa: E402
from ser_live.sinks import ws as wsmod  # noqa: E402
from ser_live.sinks import ws_cli  # noqa: E402
from ser_live.sinks.ws import Broadcaster, WsConfig  # noqa: E402
from ser_live.sinks.ws_publish import Publisher  # noqa: E402

SCHEMA = json.loads(wsmod.SCHEMA_FILE.read_text())


def validator(kind: str) -> "jsonschema.Draft202012Validator":
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    root = {k: v for k, v in SCHEMA.items() if k != "oneOf"}
    return jsonschema.Draft202012Validator({**root, "$ref": f"#/$defs/{kind}"})


SERVER_MSG = validator("server_message")
CLIENT_MSG = validator("client_message")


def event(stream: str, t0: float, label: str = "angry", conf: float = 0.6) -> EmotionEvent:
    p = np.full(len(LABELS), (1 - conf) / (len(LABELS) - 1))
    p[LABELS.index(label)] = conf
    return EmotionEvent.from_probs(stream, t0, t0 + 2.0, LABELS, p, 5.0)


def status(stream: str, t: float, speech: bool = True) -> Status:
    return Status(stream=stream, t=t, time=iso_now(), speech=speech, level_db=-20.0, overruns=0)


def recv_json(ws, timeout: float = 5.0) -> dict:
    msg = json.loads(ws.recv(timeout=timeout))
    SERVER_MSG.validate(msg)
    return msg


def recv_until(ws, pred, timeout: float = 5.0) -> list[dict]:
    """Messages up to and including the first that satisfies `pred`."""
    out, deadline = [], time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; got {[m['type'] for m in out]}")
        out.append(recv_json(ws, left))
        if pred(out[-1]):
            return out


def close_code(ws, timeout: float = 5.0) -> tuple[int, str, list]:
    """Read until the server closes; the close code, reason and anything sent before it."""
    got = []
    try:
        while True:
            got.append(ws.recv(timeout=timeout))
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, f"closed without a close frame: {exc}"
        return exc.rcvd.code, exc.rcvd.reason, got


@pytest.fixture
def server():
    """`server(**cfg)` -> a started Broadcaster on a free loopback port with streams a, b, c."""
    started = []

    def make(streams=("a", "b", "c"), **kw) -> Broadcaster:
        kw = {"port": 0, "heartbeat_s": 0.3, "auth_timeout_s": 0.5, **kw}
        b = Broadcaster(WsConfig(**kw), model={"name": "test", "labels": list(LABELS)}).start()
        bus = EventBus()
        b.attach(bus, list(streams))
        b.bus = bus
        started.append(b)
        return b

    yield make
    for b in started:
        b.close()


def hello(ws) -> dict:
    msg = recv_json(ws)
    assert msg["type"] == "hello", msg
    return msg


# --- schema and the message flow --------------------------------------------------------

def test_every_message_type_validates_and_engine_events_all_arrive(server, classifier, scene):  # noqa: F811
    """A real engine on a recorded file: hello, status, event, summary, heartbeat, streams."""
    from ser_live.audio.sources import FileSource
    from ser_live.engine import Engine

    b = server(streams=())
    src = FileSource(scene.path, name="call")
    engine = Engine([src], classifier)
    with connect(b.ws_url) as ws:
        h = hello(ws)
        assert h["schema_version"] == wsmod.SCHEMA_VERSION == SCHEMA["x-schema-version"]
        assert h["labels"] == list(LABELS) and set(h["colors"]) >= set(LABELS)
        assert h["subscribed"] == "*"
        b.attach(engine.bus, engine.streams, model="tiny")
        engine.run()
        msgs = recv_until(ws, lambda m: m["type"] == "summary")
        msgs += recv_until(ws, lambda m: m["type"] == "heartbeat")
    types = {m["type"] for m in msgs}
    assert {"streams", "status", "event", "summary", "heartbeat"} <= types, types
    events = [m for m in msgs if m["type"] == "event"]
    summary = next(m for m in msgs if m["type"] == "summary")
    assert summary["stream"] == "call" and len(events) == summary["events"] == engine.summaries["call"].events > 0
    streams = next(m for m in msgs if m["type"] == "streams")["streams"]
    assert streams[0]["id"] == "call" and streams[0]["model"] == "tiny"


def test_late_joiner_gets_current_state_and_client_messages_validate(server):
    b = server()
    b.bus.publish(event("a", 0.0, "sad"))
    b.bus.publish(status("a", 2.5))
    time.sleep(0.3)
    with connect(b.ws_url) as ws:
        hello(ws)
        first = [recv_json(ws), recv_json(ws)]
        assert {m["type"] for m in first} == {"event", "status"}
    for m in ({"type": "auth", "token": "x"}, {"type": "subscribe", "streams": ["a"]},
              {"type": "subscribe", "streams": "*"}, {"type": "announce", "streams": ["x"], "model": None}):
        CLIENT_MSG.validate(m)


def test_subscriptions(server):
    b = server()
    with connect(b.ws_url + "?streams=b") as only_b, connect(b.ws_url) as everything:
        assert hello(only_b)["subscribed"] == ["b"]
        hello(everything)
        for s in ("a", "b", "c"):
            b.bus.publish(event(s, 0.0))
        got = recv_until(only_b, lambda m: m["type"] == "event")
        assert got[-1]["stream"] == "b"
        seen = {m["stream"] for m in recv_until(everything, lambda m: m["type"] == "event" and m["stream"] == "c")
                if m["type"] == "event"}
        assert seen == {"a", "b", "c"}
        everything.send(json.dumps({"type": "subscribe", "streams": ["a", "c"]}))
        assert recv_until(everything, lambda m: m["type"] == "subscribed")[-1]["subscribed"] == ["a", "c"]
        b.bus.publish(event("b", 2.0))
        b.bus.publish(event("c", 2.0))
        last = recv_until(everything, lambda m: m["type"] == "event")[-1]
        assert last["stream"] == "c"
        # unknown stream: 4404, in the URL or in a subscribe message
        everything.send(json.dumps({"type": "subscribe", "streams": ["a", "nope"]}))
        code, reason, _ = close_code(everything)
        assert (code, reason) == (4404, "unknown stream: nope")
    with connect(b.ws_url + "?streams=zzz") as ws:
        assert close_code(ws)[:2] == (4404, "unknown stream: zzz")


# --- security -------------------------------------------------------------------------

def test_token_checked_before_anything_is_sent(server):
    b = server(token="s3cret")
    b.bus.publish(event("a", 0.0))  # state a late joiner would be sent at once
    with connect(b.ws_url) as ws:  # no token at all: 4408 after auth_timeout
        code, _, got = close_code(ws)
        assert code == 4408 and got == []
    with connect(b.ws_url) as ws:
        ws.send(json.dumps({"type": "auth", "token": "wrong"}))
        code, reason, got = close_code(ws)
        assert (code, reason, got) == (4401, "invalid token", [])
    with connect(b.ws_url) as ws:
        ws.send(json.dumps({"type": "subscribe", "streams": "*"}))
        code, _, got = close_code(ws)
        assert code == 4401 and got == []
    with connect(b.ws_url, additional_headers={"Authorization": "Bearer nope"}) as ws:
        assert close_code(ws)[:2] == (4401, "invalid token")
    with connect(b.ws_url, additional_headers={"Authorization": "Bearer s3cret"}) as ws:
        hello(ws)
    with connect(b.ws_url) as ws:
        ws.send(json.dumps({"type": "auth", "token": "s3cret"}))
        hello(ws)
        assert recv_json(ws)["type"] == "event"


def test_non_loopback_bind_needs_token():
    with pytest.raises(ValueError, match="requires a token"):
        Broadcaster(WsConfig(host="0.0.0.0", port=0))
    WsConfig(host="0.0.0.0", port=0, token="t").check()
    WsConfig(host="::1", port=0).check()
    with pytest.raises(ValueError, match="both"):
        WsConfig(tls_cert="x.pem").check()


def test_origins_and_host(server):
    b = server(allow_origins=("http://dash.example",))
    with pytest.raises(InvalidStatus) as err:
        connect(b.ws_url, origin="http://evil.example")
    assert err.value.response.status_code == 403
    for origin in ("http://dash.example", f"http://127.0.0.1:{b.port}", None):
        with connect(b.ws_url, origin=origin) as ws:
            hello(ws)
    # DNS rebinding: a foreign name pointing at 127.0.0.1 is refused on a loopback server
    req = urllib.request.Request(b.url, headers={"Host": f"evil.example:{b.port}"})
    with pytest.raises(urllib.error.HTTPError) as herr:
        urllib.request.urlopen(req, timeout=5)
    assert herr.value.code == 403


def test_max_clients(server):
    b = server(max_clients=2)
    with connect(b.ws_url) as c1, connect(b.ws_url) as c2:
        hello(c1), hello(c2)
        with connect(b.ws_url) as c3:
            code, reason, got = close_code(c3)
            assert code == 1013 and "server full" in reason and got == []
    time.sleep(0.2)
    with connect(b.ws_url) as again:  # a freed place can be taken
        hello(again)


@pytest.mark.parametrize("send, code", [
    (b"\x00\x01binary", 1003),
    ("this is not json", 4400),
    ("[1, 2, 3]", 4400),
    ('{"type": "launch_missiles"}', 4400),
    ('{"type": "subscribe", "streams": 5}', 4400),
    ("x" * (1 << 20), 1009),
])
def test_bad_input_is_closed_and_the_server_carries_on(server, send, code):
    b = server()
    with connect(b.ws_url) as good, connect(b.ws_url, max_size=None) as bad:
        hello(good), hello(bad)
        bad.send(send)
        got_code, reason, _ = close_code(bad)
        assert got_code == code and reason
        b.bus.publish(event("a", 0.0))
        assert recv_until(good, lambda m: m["type"] == "event")[-1]["stream"] == "a"
    health = json.loads(urllib.request.urlopen(b.url + "healthz", timeout=5).read())
    assert health["ok"]


def test_static_page_and_paths(server):
    b = server()
    page = urllib.request.urlopen(b.url, timeout=5)
    assert page.headers["Content-Type"].startswith("text/html") and b"app.js" in page.read()
    assert b"WebSocket" in urllib.request.urlopen(b.url + "app.js", timeout=5).read()
    served = json.loads(urllib.request.urlopen(b.url + "schema/messages.schema.json", timeout=5).read())
    assert served == SCHEMA
    for bad in ("../../etc/passwd", "nothing", "publish"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(b.url + bad, timeout=5)
        assert err.value.code == 404
    assert b"http://" not in (wsmod.WEB_DIR / "index.html").read_bytes().replace(b"http://HOST", b"")


# --- backpressure ---------------------------------------------------------------------

def _stalled_client(b: Broadcaster):
    """A real client that stops reading after the handshake: a queue of one message and a 4 KB
    socket buffer, so the server's sends back up at once."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", b.port))
    return connect(b.ws_url, sock=s, max_queue=1, ping_interval=None)


def test_stalled_client_costs_bounded_memory_and_nobody_waits(server):
    b = server(queue_size=128)
    n = 1200
    with _stalled_client(b) as stalled, connect(b.ws_url) as fast:
        hello(fast)
        latencies: list[float] = []
        seen: list[dict] = []

        def read() -> None:
            deadline = time.monotonic() + 40
            while len(latencies) < n and time.monotonic() < deadline and not any(
                    m["type"] == "dropped" for m in seen[-1:]):
                m = json.loads(fast.recv(timeout=5))
                seen.append(m)
                if m["type"] == "event":
                    latencies.append(time.time() - epoch_of(m["time"]))

        reader = threading.Thread(target=read)
        reader.start()
        t_pub = 0.0
        pad = {f"x{k:03d}": 0.0 for k in range(400)}  # ~5 KB a message: 7.5 MB overfill the kernel's buffers
        for i in range(n):
            ev = event("a", i * 0.5)
            ev.probs.update(pad)
            t0 = time.perf_counter()
            b.bus.publish(ev)
            t_pub = max(t_pub, time.perf_counter() - t0)
            if i % 10 == 9:  # ~100 events/s: fifty times a busy engine's rate
                time.sleep(0.1)
        reader.join()
        assert len(latencies) == n  # the healthy client lost nothing
        assert not [m for m in seen if m["type"] == "dropped"]
        assert t_pub < 0.05, f"publishing blocked the engine for {t_pub * 1000:.1f} ms"
        assert float(np.percentile(latencies, 99)) < 0.5, "the stalled client slowed the fast one"
        port = stalled.local_address[1]
        slow = [c for c in b._clients if c.ws.remote_address[1] == port]
        assert len(slow) == 1 and len(slow[0].queue) <= 128 and slow[0].dropped > n // 4, \
            (slow[0].sent, slow[0].dropped)
        # when it reads again it learns how much it lost
        frames = []
        with contextlib.suppress(TimeoutError):
            while not any(f["type"] == "dropped" for f in frames):
                frames.append(json.loads(stalled.recv(timeout=5)))
        reported = [f for f in frames if f["type"] == "dropped"]
        assert reported and reported[-1]["total"] == slow[0].dropped
        for f in reported + frames[:3]:
            SERVER_MSG.validate(f)


def test_publish_never_blocks_when_the_loop_is_gone():
    bus = EventBus()
    b = Broadcaster(WsConfig(port=0)).start()
    b.attach(bus, ["a"])
    b.close()
    events = [event("a", i) for i in range(5000)]
    t0 = time.perf_counter()
    for ev in events:
        bus.publish(ev)
    assert time.perf_counter() - t0 < 1.0


# --- hub: several monitors publishing into one server ---------------------------------

def test_hub_carries_streams_of_several_publishers(server):
    hub = server(streams=(), hub=True, token="hubtoken")
    buses = [EventBus(), EventBus()]
    pubs = [Publisher(f"ws://127.0.0.1:{hub.port}", streams, token="hubtoken", model="m").start()
            for streams in (["desk1"], ["desk2:L", "desk2:R"])]
    for p, bus in zip(pubs, buses):
        p.attach(bus)
        assert p.connected.wait(5), p.error
    try:
        with connect(hub.ws_url, additional_headers={"Authorization": "Bearer hubtoken"}) as ws:
            h = hello(ws)
            assert {s["id"] for s in h["streams"]} == {"desk1", "desk2:L", "desk2:R"}
            buses[0].publish(event("desk1", 0.0, "sad"))
            buses[1].publish(event("desk2:R", 0.0, "happy"))
            seen: set = set()  # two publishers, two connections: either may come first
            recv_until(ws, lambda m: m["type"] == "event" and (seen.add(m["stream"]) or seen >= {"desk1", "desk2:R"}))
            assert seen == {"desk1", "desk2:R"}
            # a wrong token stops a publisher; a stream id that is taken is refused and retried
            bad = Publisher(f"ws://127.0.0.1:{hub.port}", ["x"], token="nope", retry_s=0.1).start()
            dup = Publisher(f"ws://127.0.0.1:{hub.port}/publish", ["desk1"], token="hubtoken", retry_s=0.1)
            pubs.append(dup.start())
            bad._thread.join(5)
            assert bad.error.startswith("hub refused: 4401") and not bad._thread.is_alive()
            deadline = time.monotonic() + 5
            while dup.error is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert dup.error.startswith("hub refused: 4409") and dup._thread.is_alive()
            # a publisher that leaves takes its streams with it, and the one waiting gets them
            pubs[0].close()
            gone = recv_until(ws, lambda m: m["type"] == "streams")[-1]
            assert {s["id"] for s in gone["streams"]} == {"desk2:L", "desk2:R"}
            assert dup.connected.wait(5) and dup.error is None
            back = recv_until(ws, lambda m: m["type"] == "streams")[-1]
            assert {s["id"] for s in back["streams"]} == {"desk1", "desk2:L", "desk2:R"}
            # a publisher may not speak for streams it did not announce
            with connect(f"ws://127.0.0.1:{hub.port}/publish",
                         additional_headers={"Authorization": "Bearer hubtoken"}) as rogue:
                rogue.send(json.dumps({"type": "announce", "streams": ["r"]}))
                assert json.loads(rogue.recv(timeout=5))["type"] == "announced"
                rogue.send(json.dumps(event("desk2:L", 0.0).to_dict()))
                assert close_code(rogue)[0] == 4400
    finally:
        for p in pubs:
            p.close()


def test_hub_relays_no_nan_from_a_publisher(server):
    """Python's json reads NaN, browsers' JSON.parse does not: a publisher's event with a NaN in
    it is refused (4400), not relayed to the supervisor pages, whose parse would fail on it."""
    hub = server(streams=(), hub=True)
    with connect(hub.ws_url) as viewer:
        hello(viewer)
        with connect(f"ws://127.0.0.1:{hub.port}/publish") as pub:
            pub.send(json.dumps({"type": "announce", "streams": ["r"]}))
            assert json.loads(pub.recv(timeout=5))["type"] == "announced"
            bad = event("r", 0.0).to_dict()
            bad["confidence"] = float("nan")
            pub.send(json.dumps(bad))
            got_code, reason, _ = close_code(pub)
            assert got_code == 4400 and "NaN" in reason
        msgs = recv_until(viewer, lambda m: m["type"] == "streams" and not m["streams"])
        assert not [m for m in msgs if m["type"] == "event"], msgs


@pytest.mark.parametrize("hub", [False, True])
def test_websocket_client_at_the_page_is_told_where_the_feed_is(server, hub):
    """A client pointed at ws://HOST:PORT/ (the page's address) gets a 404 naming /ws, not an
    unexplained "HTTP 200"; plain HTTP there still gets the page."""
    b = server(hub=hub)
    for path in ("/", "/app.js", "/events"):
        with pytest.raises(InvalidStatus) as err:
            connect(f"ws://127.0.0.1:{b.port}{path}")
        assert err.value.response.status_code == 404
        body = err.value.response.body.decode()
        assert f"no websocket at {path}: the event feed is /ws" in body
        assert ("/publish" in body) == hub
    assert urllib.request.urlopen(b.url, timeout=5).status == 200


def test_publish_endpoint_only_on_a_hub(server):
    b = server()
    with pytest.raises(InvalidStatus) as err:
        connect(f"ws://127.0.0.1:{b.port}/publish")
    assert err.value.response.status_code == 404


def test_publisher_says_when_the_hub_is_away_once_and_follows_it_back(server, capsys):
    """A monitor's hub that is not up yet, then up, then gone: each change is said once on
    stderr (not once per attempt), events flow while it is up, and the loss is noticed while
    the call is quiet, not at the next event."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = EventBus()
    pub = Publisher(f"ws://127.0.0.1:{port}", ["desk1"], retry_s=0.1).start()
    pub.attach(bus)
    prefix = f"ser-live: --ws-publish ws://127.0.0.1:{port}/publish: "
    try:
        time.sleep(1.0)  # about ten attempts
        assert not pub.connected.is_set() and pub.error.startswith("ConnectionRefusedError")
        assert capsys.readouterr().err.splitlines() == [f"{prefix}{pub.error}; retrying every 0.1 s"]
        hub = server(streams=(), hub=True, port=port)
        assert pub.connected.wait(5), pub.error
        with connect(hub.ws_url) as ws:
            assert [s["id"] for s in hello(ws)["streams"]] == ["desk1"]
            bus.publish(event("desk1", 0.0, "sad"))
            assert recv_until(ws, lambda m: m["type"] == "event")[-1]["stream"] == "desk1"
        hub.close()
        deadline = time.monotonic() + 5
        while pub.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # more attempts, on a port nobody listens on again
        err = capsys.readouterr().err.splitlines()
        assert err[:2] == [f"{prefix}connected",
                           f"{prefix}connection lost (1001 server shutting down); retrying every 0.1 s"]
        assert len(err) == 3 and err[2].startswith(f"{prefix}ConnectionRefusedError"), err
    finally:
        pub.close()


# --- TLS --------------------------------------------------------------------------------

def test_tls(server, tls_cert):  # noqa: F811
    cert, key = tls_cert
    b = server(tls_cert=cert, tls_key=key)
    assert b.ws_url.startswith("wss://")
    ctx = ssl.create_default_context(cafile=cert)
    with connect(b.ws_url, ssl=ctx) as ws:
        hello(ws)
    assert b"app.js" in urllib.request.urlopen(b.url, context=ctx, timeout=5).read()
    # no session ticket follows the handshake: one arriving while a threaded client writes its
    # upgrade request races that client's reader (see Broadcaster._main)
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := tls.recv(4096):
            reply += chunk
        assert tls.version() == "TLSv1.3" and reply.startswith(b"HTTP/1.1 200")
        assert not tls.session.has_ticket
    with pytest.raises(Exception):  # plain ws:// to a TLS port gets nowhere
        connect(b.ws_url.replace("wss://", "ws://"), open_timeout=2)


def test_publisher_over_tls_and_an_untrusted_certificate(server, tls_cert):  # noqa: F811
    """A hub over TLS: a publisher given the CA (`--tls-ca`) gets in; one without it is told
    how to fix that and keeps retrying (an unattended monitor must not give up)."""
    cert, key = tls_cert
    hub = server(streams=(), hub=True, tls_cert=cert, tls_key=key)
    trusted = Publisher(f"wss://127.0.0.1:{hub.port}", ["desk1"], cafile=cert).start()
    untrusted = Publisher(f"wss://127.0.0.1:{hub.port}", ["desk2"], retry_s=0.1).start()
    try:
        assert trusted.connected.wait(5), trusted.error
        deadline = time.monotonic() + 5
        while untrusted.error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert untrusted.error.startswith("TLS certificate not trusted (")
        assert untrusted.error.endswith("pass the CA that signed it with --tls-ca FILE")
        time.sleep(0.3)
        assert untrusted._thread.is_alive() and not untrusted.connected.is_set()
    finally:
        trusted.close()
        untrusted.close()


# --- command-line glue ------------------------------------------------------------------

def test_cli_glue(monkeypatch, classifier):  # noqa: F811
    import argparse

    from ser_live.cli import CliError

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    ws_cli.add_serve_parser(sub)
    mon = sub.add_parser("monitor")
    ws_cli.add_ws_arguments(mon)
    args = parser.parse_args(["monitor", "--ws", "127.0.0.1:0", "--max-clients", "3"])
    assert ws_cli.start_broadcaster(_FakeEngine(classifier), parser.parse_args(["monitor"])) is None

    engine = _FakeEngine(classifier)
    b = ws_cli.start_broadcaster(engine, args)
    try:
        assert b.cfg.max_clients == 3
        with connect(b.ws_url) as ws:
            h = hello(ws)
            assert [s["id"] for s in h["streams"]] == ["mic"]
            engine.bus.publish(event("mic", 0.0))
            assert recv_until(ws, lambda m: m["type"] == "event")[-1]["stream"] == "mic"
    finally:
        engine.bus.close()
        b.close()
    with pytest.raises(CliError, match="requires a token"):
        ws_cli.start_broadcaster(engine, parser.parse_args(["monitor", "--ws", "0.0.0.0:0"]))
    monkeypatch.setenv(wsmod.TOKEN_ENV, "from-env")
    b = ws_cli.start_broadcaster(engine, parser.parse_args(["monitor", "--ws", "0.0.0.0:0"]))
    assert b.cfg.token == "from-env"
    b.close()
    serve = parser.parse_args(["serve", "--listen", ":0", "--allow-origin", "*"])
    assert serve.func is ws_cli.cmd_serve and serve.allow_origin == ["*"]


def test_serve_prints_addresses_that_answer():
    """`ser-live serve` says where the page, the viewers' websocket and the publishers' endpoint
    are, with the port it bound; each of the three answers as said."""
    import re
    import subprocess

    from conftest import SER_LIVE

    proc = subprocess.Popen([str(SER_LIVE), "serve", "--listen", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        m = re.fullmatch(r"ser-live serve: supervisor page at (http://\S+/) \(websocket (ws://\S+/ws)\); "
                         r"monitors publish to (ws://\S+/publish)\n", line)
        assert m, line
        page, feed, publish = m.groups()
        assert ":0/" not in page and b"app.js" in urllib.request.urlopen(page, timeout=5).read()
        with connect(feed) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        with connect(publish) as ws:  # no token on loopback: the hub takes the publisher
            ws.send(json.dumps({"type": "announce", "streams": ["desk-1"]}))
            assert json.loads(ws.recv(timeout=5))["type"] == "announced"
            with connect(feed) as viewer:
                assert [s["id"] for s in hello(viewer)["streams"]] == ["desk-1"]
    finally:
        proc.terminate()
        proc.wait(10)


class _FakeEngine:
    def __init__(self, clf) -> None:
        self.classifier, self.labels, self.streams, self.bus = clf, list(clf.labels), ["mic"], EventBus()
