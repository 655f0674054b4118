"""Remote mode: the dashboard fed by a websocket broadcaster instead of the local engine.

Real components throughout: a Broadcaster on a free loopback port (fed by a real engine on a
synthesised recording, or by hand-made engine messages published into its bus), a RemoteFeed
(websockets client on its own thread), the DashboardWindow on the offscreen Qt platform and
the MessagePump that drains the feed. Asserts are on widget state: plotted arrays, badge
text and colour, the banner."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from live_fixtures import classifier, cli_env, scene, tiny_model_dir, tls_cert, utterances  # noqa: F401  (fixtures)

websockets = pytest.importorskip("websockets")
QtCore = pytest.importorskip("PyQt6.QtCore")
from PyQt6.QtGui import QImage  # noqa: E402

from ser_live.audio.sources import FileSource  # noqa: E402
from ser_live.bus import EventBus  # noqa: E402
from ser_live.engine import Engine  # noqa: E402
from ser_live.events import EmotionEvent, Status, iso_now  # noqa: E402
from ser_live.labels import COLORS, LABELS  # noqa: E402
from ser_live.sinks.ws import Broadcaster, WsConfig  # noqa: E402
from ser_live.ui.app import make_model  # noqa: E402
from ser_live.ui.bridge import MessagePump  # noqa: E402
from ser_live.ui.dashboard import DashboardWindow  # noqa: E402
from ser_live.ui.remote import RemoteFeed, feed_url, stream_ids  # noqa: E402


@pytest.fixture
def server():
    """`server(streams, **cfg)` -> a started Broadcaster on loopback (a free port unless
    `port` is given) with `.bus`, an EventBus attached to it."""
    started = []

    def make(streams=("agent1", "agent2"), **kw) -> Broadcaster:
        kw = {"port": 0, "heartbeat_s": 0.5, "auth_timeout_s": 1.0, **kw}
        b = Broadcaster(WsConfig(**kw), model={"name": "test", "labels": list(LABELS)}).start()
        b.bus = EventBus()
        b.attach(b.bus, list(streams))
        started.append(b)
        return b

    yield make
    for b in started:
        b.close()


@pytest.fixture
def feeds():
    """`feeds(url, **kw)` -> a started RemoteFeed, closed after the test."""
    made = []

    def make(url: str, **kw) -> RemoteFeed:
        f = RemoteFeed(url, **kw).start()
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def event(stream: str, t_end: float, label: str, conf: float = 0.6) -> EmotionEvent:
    p = np.full(len(LABELS), (1 - conf) / (len(LABELS) - 1))
    p[LABELS.index(label)] = conf
    return EmotionEvent.from_probs(stream, t_end - 2.0, t_end, LABELS, p, 5.0)


def status(stream: str, t: float) -> Status:
    return Status(stream=stream, t=t, time=iso_now(), speech=True, level_db=-20.0, overruns=0)


class Dash:
    """A dashboard on a feed, as `run_remote_ui` builds it, driven by hand."""

    def __init__(self, qapp, feed: RemoteFeed) -> None:
        self.qapp, self.feed = qapp, feed
        self.model = make_model(feed.labels or LABELS, argparse.Namespace(history=60.0))
        self.win = DashboardWindow(self.model, None, source_name=f"remote {feed.url}")
        self.pump = MessagePump(feed, self.model, [self.win], controller=feed).start()
        self.win.show()
        self.banners: list[str | None] = []

    def spin(self, until, limit: float = 8.0) -> bool:
        """Run the Qt loop (the pump's timer) until `until()` or `limit` seconds; remember
        every banner shown meanwhile."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            self.qapp.processEvents()
            self.banners.append(self.win.banner.text() if self.win.banner.isVisible() else None)
            if until():
                return True
            time.sleep(0.01)
        return bool(until())

    @property
    def events(self) -> int:
        st = self.model.current
        return st.events if st else 0

    def close(self) -> None:
        self.pump.stop()
        self.win.close()


def visible(y: np.ndarray) -> np.ndarray:
    return y[~np.isnan(y)]


def test_feed_url_and_stream_ids() -> None:
    assert feed_url("ws://127.0.0.1:8765/") == "ws://127.0.0.1:8765/ws"
    assert feed_url("http://hub:8765") == "ws://hub:8765/ws"
    assert feed_url("https://hub/ser/", ["desk2:L", "b"]) == "wss://hub/ser/ws?streams=desk2:L,b"
    assert feed_url("wss://hub:1/ws?streams=x") == "wss://hub:1/ws?streams=x"
    for bad in ("hub:8765", "ftp://hub/", "ws:///ws"):
        with pytest.raises(ValueError):
            feed_url(bad)
    assert stream_ids(["a", "b,c", " ,"]) == ["a", "b", "c"] and stream_ids(None) == []


def test_dashboard_plots_a_real_engine_over_websockets(qapp, server, feeds, classifier, scene) -> None:  # noqa: F811
    """Engine on a recording -> Broadcaster -> websocket -> RemoteFeed -> MessagePump ->
    widgets: every event the engine made is plotted, labelled and coloured as it arrives."""
    b = server(streams=())
    engine = Engine([FileSource(scene.path, realtime=False, name="agent1")], classifier)
    truth = engine.bus.subscribe(maxlen=100_000)
    b.attach(engine.bus, engine.streams, model="tiny", labels=engine.labels)
    feed = feeds(b.url)                       # the page's address works too: -> ws://.../ws
    assert feed.wait_ready(5), feed.error
    assert feed.hello["model"]["name"] == "test" and feed.labels == list(LABELS)
    d = Dash(qapp, feed)
    d.pump.max_per_tick = 1                   # one message per tick: check after each event
    engine.run()
    sent = []
    while (m := truth.get(timeout=0)) is not None:
        if m.type == "event":
            sent.append(m)
    assert sent, "the engine made no events"
    seen = 0
    end = time.monotonic() + 15
    while not (d.model.current and d.model.current.ended) and time.monotonic() < end:
        d.pump.tick()
        if len(d.model.events) == seen:
            time.sleep(0.005)
            continue
        seen = len(d.model.events)
        ev = sent[seen - 1]
        assert d.model.events[-1]["t_end"] == ev.t_end
        assert d.win.badge.text().startswith(ev.label) and f"{ev.confidence:.0%}" in d.win.badge.text()
        assert d.win.badge.color == COLORS[ev.label]
        assert f"background-color: {COLORS[ev.label]}" in d.win.badge.styleSheet()
        assert f"valence {ev.valence:+.2f}" in d.win.va_label.text()
        for lbl in LABELS:
            x, y = d.win.curves[lbl].getData()
            np.testing.assert_allclose(visible(y), [e.probs[lbl] for e in sent[:seen]], atol=1e-9)
            np.testing.assert_allclose(visible(x), [e.t_end for e in sent[:seen]])
    st = d.model.current
    assert st is not None and st.ended and st.stream == "agent1", "the summary never arrived"
    assert seen == len(sent) and d.win.strip_labels == [e.label for e in sent]
    assert d.model.summaries[0]["events"] == len(sent)
    assert "ended" in d.win.status_text.text() and f"{len(sent)} events" in d.win.status_text.text()
    assert not d.win.banner.isVisible()
    d.close()


def test_subscription_token_colours_and_a_dropped_connection(qapp, server, feeds) -> None:
    b = server(streams=("agent1", "agent2"), token="s3cret")
    feed = feeds(f"ws://127.0.0.1:{b.port}/", token="s3cret", streams=["agent1"], retry_s=0.3)
    assert feed.wait_ready(5), feed.error
    assert feed.hello["subscribed"] == ["agent1"]
    d = Dash(qapp, feed)
    labels = ["happy", "angry", "sad", "calm"]
    for k, lbl in enumerate(labels):
        t = 2.0 + 0.5 * k
        b.bus.publish(event("agent2", t, "fearful"))      # not subscribed: never shown
        b.bus.publish(event("agent1", t, lbl, conf=0.5 + 0.1 * k))
        b.bus.publish(status("agent1", t))
        assert d.spin(lambda: d.events == k + 1), f"event {k} did not arrive"
        assert d.win.badge.label == lbl and d.win.badge.color == COLORS[lbl]
        _, y = d.win.curves[lbl].getData()
        assert visible(y)[-1] == pytest.approx(0.5 + 0.1 * k)
        assert d.win.curves[lbl].opts["pen"].color().name() == COLORS[lbl]
        assert d.win.speech.speech and d.win.meter.level_db == -20.0
    assert list(d.model.streams) == ["agent1"] and d.win.strip_labels == labels

    # the connection drops: a banner, a reconnect, and the server's replay of the last event
    # and status is not counted twice
    for c in list(b._clients):
        b._call(lambda ws=c.ws: asyncio.ensure_future(ws.close(1011, "test drop")))
    assert d.spin(lambda: feed.connections == 2 and feed.error is None), feed.error
    d.spin(lambda: False, limit=0.3)
    assert "connection lost" not in (d.win.banner.message or "")
    lost = [t for t in d.banners if t and "connection lost" in t]
    assert lost and "connection lost (1011 test drop); reconnecting every 0.3 s" in lost[0]
    d.spin(lambda: False, limit=0.3)
    assert feed.duplicates >= 1 and d.events == 4 and len(d.model.events) == 4
    b.bus.publish(event("agent1", 5.0, "angry"))
    assert d.spin(lambda: d.events == 5) and d.win.badge.color == COLORS["angry"]
    d.close()


def test_wrong_or_missing_token_shows_a_clear_banner(qapp, server, feeds) -> None:
    b = server(token="s3cret")
    b.bus.publish(event("agent1", 2.0, "sad"))           # state a joiner would get at once
    for token, text in (("nope", "wrong token (4401 invalid token)"), (None, "this server needs a token")):
        feed = feeds(b.url, token=token, retry_s=0.2)
        assert not feed.wait_ready(5)
        d = Dash(qapp, feed)
        assert d.spin(lambda: d.win.banner.isVisible())
        assert text in d.win.banner.text() and "--token" in d.win.banner.text()
        assert feed.fatal and d.spin(lambda: not feed.running, 2.0)   # retrying cannot help: stopped
        assert feed.connections == 0 and d.model.streams == {} and d.win.badge.text() == "listening..."
        d.close()


def test_stream_not_yet_on_the_server_is_retried(qapp, server, feeds) -> None:
    b = server(streams=("agent1",))
    feed = feeds(b.url, streams=["agent7"], retry_s=0.2)
    d = Dash(qapp, feed)
    assert d.spin(lambda: d.win.banner.isVisible())
    assert "unknown stream: agent7 on the server (yet)" in d.win.banner.text()
    assert not feed.fatal
    b.add_streams(["agent7"])                             # its monitor joins: the feed follows
    b.bus.publish(event("agent7", 2.0, "happy"))
    assert d.spin(lambda: d.events == 1), feed.error
    assert not d.win.banner.isVisible() and d.win.badge.label == "happy"
    d.close()


def test_feed_over_tls_and_an_untrusted_certificate(server, feeds, tls_cert) -> None:  # noqa: F811
    """`--remote https://...` with `--tls-ca`: the feed gets in and events arrive; without the
    CA the banner says how to fix it, and the feed keeps retrying."""
    cert, key = tls_cert
    b = server(tls_cert=cert, tls_key=key)
    feed = feeds(b.url, cafile=cert)
    assert b.url.startswith("https://") and feed.url.startswith("wss://")
    assert feed.wait_ready(5), feed.error
    b.bus.publish(event("agent1", 2.0, "sad"))
    deadline, got = time.monotonic() + 5, None
    while got is None and time.monotonic() < deadline:
        msg = feed.get(timeout=0.1)
        got = msg if msg and msg["type"] == "event" else None
    assert got and got["stream"] == "agent1" and got["label"] == "sad"
    bad = feeds(b.url, retry_s=0.2)
    assert not bad.wait_ready(5)
    assert bad.error_text().startswith(f"{bad.url}: cannot connect (TLS certificate not trusted (")
    assert "pass the CA that signed it with --tls-ca FILE" in bad.error_text()
    assert not bad.fatal and bad.running


def test_server_goes_away_then_comes_back(qapp, server, feeds) -> None:
    b = server(streams=("agent1",))
    port = b.port
    feed = feeds(b.url, retry_s=0.5)
    assert feed.wait_ready(5)
    d = Dash(qapp, feed)
    b.bus.publish(event("agent1", 2.0, "happy"))
    assert d.spin(lambda: d.win.badge.label == "happy")
    assert not d.win.banner.isVisible()

    ticks = d.pump.ticks
    closing = threading.Thread(target=b.close)            # the server goes away
    closing.start()
    assert d.spin(lambda: d.win.banner.isVisible() and "cannot connect" in d.win.banner.text())
    shown = [t for t in d.banners if t and ("connection lost" in t or "cannot connect" in t)]
    assert "connection lost (1001 server shutting down); reconnecting every 0.5 s" in shown[0]
    assert "ConnectionRefused" in d.win.banner.text() and "reconnecting every 0.5 s" in d.win.banner.text()
    assert d.win.badge.label == "happy"                   # what was shown stays
    d.spin(lambda: False, limit=1.0)                      # a failed attempt or two more
    assert d.pump.ticks - ticks >= 20                     # the UI kept ticking meanwhile

    closing.join(5)
    b2 = server(streams=("agent1",), port=port)           # back, on the same address
    b2.bus.publish(event("agent1", 4.0, "angry"))
    b2.bus.publish(status("agent1", 4.0))
    assert d.spin(lambda: d.win.badge.label == "angry"), feed.error
    assert not d.win.banner.isVisible() and feed.connections == 2 and feed.error is None
    assert d.win.badge.color == COLORS["angry"] and d.events == 2
    x, y = d.win.curves["angry"].getData()
    np.testing.assert_allclose(visible(x), [2.0, 4.0])
    d.close()


def test_cli_screenshot_of_a_remote_feed_loads_no_model(qapp, server, tmp_path, capsys) -> None:
    b = server(streams=("agent1", "agent2"), token="tok")
    b.bus.publish(event("agent2", 2.0, "happy"))
    b.bus.publish(event("agent1", 2.0, "angry"))
    b.bus.publish(status("agent1", 2.0))
    out = tmp_path / "remote.png"
    code = ("import sys, ser_live.cli as c; rc = c.main(sys.argv[1:]); "
            "print('torch loaded:', 'torch' in sys.modules, file=sys.stderr); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "dashboard", "--remote", b.url, "--stream", "agent1",
                           "--screenshot", str(out), "--seconds", "1"],
                          capture_output=True, text=True, timeout=60,
                          env=cli_env(QT_QPA_PLATFORM="offscreen", SER_LIVE_WS_TOKEN="tok"))
    assert proc.returncode == 0, proc.stderr

    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["stream"] == "agent1" and report["label"] == "angry" and report["events"] == 1
    assert "torch loaded: False" in proc.stderr
    img = QImage(str(out))
    assert not img.isNull() and img.width() > 600

    # a refused token: the screenshot still shows why, and the command says so and fails
    from ser_live.ui.app import main

    t0 = time.monotonic()
    rc = main(["dashboard", "--remote", b.url, "--token", "bad", "--screenshot", str(tmp_path / "bad.png"),
               "--seconds", "10"])
    assert rc == 1 and time.monotonic() - t0 < 6      # gives up at once, does not wait 10 s
    assert "wrong token (4401 invalid token)" in capsys.readouterr().err
    assert (tmp_path / "bad.png").is_file()


def test_run_remote_ui_overlay(qapp, server, feeds, tmp_path) -> None:
    from PyQt6.QtCore import QSettings

    from ser_live.ui.remote import run_remote_ui

    b = server(streams=("agent1",))
    for k in range(6):
        b.bus.publish(event("agent1", 2.0 + 0.5 * k, "angry"))
    # the bus hands events to the server's loop on another thread: once a first client has the
    # sixth, the server holds it as the state a joiner is sent, and the overlay joins after that
    from websockets.sync.client import connect

    deadline = time.monotonic() + 10  # heartbeats keep arriving: bound the wait itself
    with connect(b.ws_url) as first:
        while time.monotonic() < deadline:
            m = json.loads(first.recv(timeout=5))
            if m["type"] == "event" and m["t_end"] == 4.5:
                break
        else:
            pytest.fail("the server never sent the sixth event")
    feed = feeds(b.url)
    settings = QSettings(str(tmp_path / "o.ini"), QSettings.Format.IniFormat)
    rc = run_remote_ui(feed, True, argparse.Namespace(history=60.0, negative_alert=10.0), settings=settings,
                       close_after_s=1.0)
    model, window, pump = run_remote_ui.last
    assert rc == 0 and not window.isVisible() and pump.messages >= 2
    # the server replays the last event to a joiner: that is what the agent sees
    assert window.badge.label == "angry" and window.badge.color == COLORS["angry"]
    assert model.current.stream == "agent1" and model.current.events == 1
