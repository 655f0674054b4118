"""The dashboard and the overlay as real Qt widgets (offscreen platform), fed by the real
engine: a synthesised recording -> FileSource -> Engine (tiny real model) -> bus -> the UI's
bounded subscription -> MessagePump -> widgets. Asserts are on widget state: plotted arrays,
label text, colours, window flags, saved positions."""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from live_fixtures import classifier, cli_env, run_cli, scene, tiny_model_dir, utterances  # noqa: F401  (fixtures)
from test_ui_model import event, status

from ser_live.audio.sources import FileSource
from ser_live.engine import Engine
from ser_live.labels import COLORS, LABELS

QtCore = pytest.importorskip("PyQt6.QtCore")
from PyQt6.QtCore import QPoint, QPointF, QSettings, Qt  # noqa: E402
from PyQt6.QtGui import QImage, QMouseEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from ser_live.ui.app import make_model, run_monitor_ui  # noqa: E402
from ser_live.ui.bridge import EngineController, MessagePump  # noqa: E402
from ser_live.ui.dashboard import DashboardWindow  # noqa: E402
from ser_live.ui.overlay import ALERT_FRAME, NORMAL_FRAME, OverlayWindow  # noqa: E402


class ListSource:
    """Messages one at a time, like a subscription: get(timeout=0) -> next or None."""

    def __init__(self, msgs) -> None:
        self.msgs = list(msgs)

    def get(self, timeout=None):
        return self.msgs.pop(0) if self.msgs else None


@pytest.fixture(scope="module")
def engine_messages(scene, classifier):  # noqa: F811
    """Every message the real engine publishes for the scene, in order."""
    engine = Engine([FileSource(scene.path, realtime=False, name="scene")], classifier)
    sub = engine.bus.subscribe(maxlen=100_000)
    engine.run()
    msgs = []
    while (m := sub.get(timeout=0)) is not None:
        msgs.append(m)
    assert any(m.type == "event" for m in msgs) and msgs[-1].type == "summary"
    return msgs


def visible(y: np.ndarray) -> np.ndarray:
    return y[~np.isnan(y)]


def test_dashboard_plots_what_the_engine_says(qapp, engine_messages) -> None:
    model = make_model(LABELS, argparse.Namespace(history=60.0))
    win = DashboardWindow(model, None, source_name="scene")
    win.show()
    src = ListSource(engine_messages)
    pump = MessagePump(src, model, [win])
    seen = []
    while src.msgs:
        msg = src.msgs[0]
        pump.max_per_tick = 1
        pump.tick()  # one message, then a refresh, as the timer would do
        if msg.type != "event":
            continue
        seen.append(msg)
        # the badge shows this event, on its product colour
        assert win.badge.text().startswith(msg.label)
        assert f"{msg.confidence:.0%}" in win.badge.text()
        assert win.badge.color == COLORS[msg.label]
        assert f"background-color: {COLORS[msg.label]}" in win.badge.styleSheet()
        assert f"valence {msg.valence:+.2f}" in win.va_label.text()
        # every class curve holds exactly the probabilities of the events so far, at t_end
        for lbl in LABELS:
            x, y = win.curves[lbl].getData()
            np.testing.assert_allclose(visible(y), [e.probs[lbl] for e in seen], atol=1e-9)
            np.testing.assert_allclose(visible(x), [e.t_end for e in seen])
            assert win.curves[lbl].opts["pen"].color().name() == COLORS[lbl]
        assert win.strip_labels == [e.label for e in seen]
    # the silence between the utterances breaks the lines
    x, _ = win.curves["neutral"].getData()
    assert np.isnan(x).sum() >= 1
    # the view scrolls to the stream clock: items are shifted by -clock, range is [-60, 0]
    st = model.current
    assert st.ended and win.curves["sad"].pos().x() == pytest.approx(-st.clock)
    (x0, x1), _ = win.plot.viewRange()
    assert (x0, x1) == pytest.approx((-60.0, 0.0))
    assert "ended" in win.status_text.text() and f"{len(seen)} events" in win.status_text.text()
    qapp.processEvents()  # the event loop paints what refresh() changed
    assert win.paints.count > 0
    win.close()


def test_colours_and_labels_change_with_the_events(qapp) -> None:
    model = make_model(LABELS, argparse.Namespace(history=30.0, negative_alert=3.0))
    win = DashboardWindow(model, None)
    win.show()
    assert win.badge.text() == "listening..."
    for k, lbl in enumerate(["happy", "angry", "angry", "angry", "angry", "angry", "angry",
                             "angry", "angry", "calm"]):
        model.feed(event(2.0 + 0.5 * k, lbl, valence=-0.7 if lbl == "angry" else 0.5))
        model.feed(status(2.0 + 0.5 * k, speech=True, level=-12.0 - k))
        win.refresh()
        assert win.badge.label == lbl and win.badge.color == COLORS[lbl]
        # readable text on every emotion colour: dark on yellow, white on red
        fg = {"happy": "#111111", "angry": "#ffffff"}.get(lbl)
        if fg:
            assert f"; color: {fg}" in win.badge.styleSheet()
        assert win.circumplex.label == lbl
        assert win.speech.speech and "speech" in win.speech.text()
        assert win.meter.level_db == -12.0 - k
        if lbl == "angry" and k >= 8:
            assert "sustained" in win.negative_label.text()
    assert win.negative_label.text() == ""  # calm ended the stretch
    model.feed(status(7.5, speech=False, level=-80.0))
    win.refresh()
    assert not win.speech.speech and win.meter.fraction() == 0.0
    win.set_history(20)
    assert model.history_s == 20 and win.plot.viewRange()[0] == pytest.approx([-20.0, 0.0])
    win.close()


class FlakySource:
    """A real FileSource whose device 'vanishes' between `gone` seconds of wall time: `error`
    is set while MicSource would be retrying; meanwhile it delivers nothing (as MicSource
    does) or, with `silence`, digital silence (a device that still clocks but reports)."""

    def __init__(self, path, gone=(0.6, 3.6), silence=False, realtime=True) -> None:
        self.inner = FileSource(path, realtime=realtime, name="mic")
        self.streams, self.overruns, self.error = self.inner.streams, 0, None
        self.gone, self.silence, self.reads = gone, silence, 0

    def start(self) -> None:
        self.inner.start()
        self.t0 = time.monotonic()

    def read(self):
        self.reads += 1
        t = (time.monotonic() - self.t0) if self.inner.realtime else self.reads / 10
        if self.gone[0] <= t < self.gone[1]:
            self.error = "input device 'USB Headset' stopped delivering audio; retrying"
            return [np.zeros(1600 if self.silence else 0, np.float32)]
        self.error = None
        return self.inner.read()

    def stop(self) -> None:
        self.inner.stop()


def test_source_error_in_status_shows_a_banner_and_clears(qapp, scene, classifier) -> None:  # noqa: F811
    engine = Engine([FlakySource(scene.path, gone=(0.3, 1.5), silence=True, realtime=False)], classifier)
    sub = engine.bus.subscribe(maxlen=100_000)
    engine.run()
    model = make_model(LABELS, None)
    win = DashboardWindow(model, None)
    win.show()
    shown = []
    while (m := sub.get(timeout=0)) is not None:
        model.feed(m)
        win.refresh()
        if m.type == "status":
            shown.append((m.error is not None, win.banner.isVisible(), win.banner.text()))
    assert any(err for err, _, _ in shown), "the source's error never reached a status message"
    for err, vis, text in shown:
        assert vis == err
        if err:
            assert "USB Headset" in text and "retrying" in text
    assert not win.banner.isVisible()
    win.close()


def test_input_gone_quiet_shows_a_banner_and_retries(qapp, scene, classifier) -> None:  # noqa: F811
    """A device that vanishes delivers no audio; the engine still reports the source's error
    every status interval, so the banner says why, the UI never freezes, and it recovers
    with the input."""
    engine = Engine([FlakySource(scene.path, gone=(0.6, 3.8))], classifier)
    model = make_model(LABELS, None)
    ctl = EngineController(engine, model)
    win = DashboardWindow(model, ctl)
    pump = MessagePump(ctl, model, [win], controller=ctl).start()
    win.show()
    ctl.start()
    texts, ticks = [], []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5.0:
        qapp.processEvents()
        texts.append(win.banner.text() if win.banner.isVisible() else None)
        ticks.append(pump.ticks)
        time.sleep(0.02)
    quiet = [t for t in texts if t]
    assert quiet and "stopped delivering audio" in quiet[0]
    assert texts[-1] is None                    # audio is back: the banner went away
    assert ticks[-1] - ticks[0] >= 100          # the UI kept ticking (~30 Hz) throughout
    win.close()
    pump.stop()
    assert ctl.shutdown(10.0)


def test_closing_the_window_stops_the_engine(qapp, scene, classifier, tmp_path) -> None:  # noqa: F811
    for overlay in (False, True):
        engine = Engine([FileSource(scene.path, realtime=True, name="live")], classifier)
        settings = QSettings(str(tmp_path / "o.ini"), QSettings.Format.IniFormat)
        t0 = time.monotonic()
        rc = run_monitor_ui(engine, overlay, argparse.Namespace(history=30.0), settings=settings,
                            close_after_s=1.5)
        took = time.monotonic() - t0
        model, window, ctl = run_monitor_ui.last
        assert rc == 0 and took < 8.0, took
        assert engine._done.is_set() and not engine._engine_thread.is_alive()
        assert not engine._worker_thread.is_alive() and not ctl.running
        st = model.current
        # live for ~1.5 s: status messages came in, then the summary of the clean stop
        assert st is not None and 0.5 <= st.clock <= 4.0 and st.ended
        assert model.summaries and model.summaries[0]["stream"] == "live"
        assert not window.isVisible()


def test_dashboard_controller_restarts_a_replay(qapp, scene, classifier) -> None:  # noqa: F811
    from ser_live.ui.app import _factory

    engine = Engine([FileSource(scene.path, realtime=True, name="r")], classifier)
    model = make_model(LABELS, None)
    factory, devices = _factory(engine, argparse.Namespace(split_channels=False))
    ctl = EngineController(engine, model, factory)
    win = DashboardWindow(model, ctl, source_name="r")
    pump = MessagePump(ctl, model, [win], controller=ctl).start()
    win.show()

    def spin(until, limit=5.0):
        end = time.monotonic() + limit
        while not until() and time.monotonic() < end:
            qapp.processEvents()
            time.sleep(0.01)
        return until()

    ctl.start()
    assert spin(lambda: model.current is not None and model.current.clock >= 0.5)
    assert win.start_button.text() == "Stop"
    win.start_button.click()              # stop: the engine finishes, its summary arrives
    assert spin(lambda: model.current.ended)
    assert win.start_button.text() == "Start"
    win.start_button.click()              # start again: a new engine, a new session
    assert spin(lambda: model.current is not None and not model.current.ended and ctl.running)
    assert ctl.engine is not engine
    win.close()
    pump.stop()
    assert ctl.shutdown(10.0)
    assert all(e._done.is_set() for e in ctl._engines)


def test_export_events_and_trace_png(qapp, engine_messages, tmp_path) -> None:
    model = make_model(LABELS, None)
    model.feed_all(engine_messages)
    win = DashboardWindow(model, None)
    win.show()
    n = sum(m.type == "event" for m in engine_messages)
    csv_path = win.export_events(tmp_path / "s.csv")
    assert len(csv_path.read_text().splitlines()) == n + 1
    import json

    doc = json.loads(win.export_events(tmp_path / "s.json").read_text())
    assert len(doc["events"]) == n and doc["summaries"][0]["type"] == "summary"
    img = QImage(str(win.export_png(tmp_path / "trace.png")))
    assert not img.isNull() and img.width() == win.plot.width() and img.height() == win.plot.height()
    win.close()


def drag(w, start: QPoint, end: QPoint) -> None:
    """A real press-move-release on the window, in global coordinates."""
    def send(kind, gpos, buttons):
        local = QPointF(w.mapFromGlobal(gpos))
        ev = QMouseEvent(kind, local, QPointF(gpos), Qt.MouseButton.LeftButton, buttons,
                         Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(w, ev)

    send(QMouseEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    send(QMouseEvent.Type.MouseMove, end, Qt.MouseButton.LeftButton)
    send(QMouseEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def test_overlay_flags_alert_and_remembered_position(qapp, tmp_path) -> None:
    settings = QSettings(str(tmp_path / "overlay.ini"), QSettings.Format.IniFormat)
    model = make_model(LABELS, argparse.Namespace(negative_alert=4.0))
    ov = OverlayWindow(model, settings=settings)
    ov.show()
    qapp.processEvents()
    flags = ov.windowFlags()
    assert flags & Qt.WindowType.WindowStaysOnTopHint and flags & Qt.WindowType.FramelessWindowHint
    assert ov.width() <= 300 and ov.height() <= 150
    assert ov.alert is False and NORMAL_FRAME in ov.frame.styleSheet()
    # the caller turns angry: colour follows at once, the alert only after 4 s of it
    for k in range(12):
        t = 2.0 + 0.5 * k
        model.feed(event(t, "angry", valence=-0.7))
        ov.refresh()
        assert ov.badge.label == "angry" and ov.badge.color == COLORS["angry"]
        assert ov.alert == (t - 0.0 >= 4.0)
    assert ALERT_FRAME in ov.frame.styleSheet() and "negative for" in ov.note.text()
    # the sparkline holds the last minute's valence, points in emotion colours
    assert list(ov.spark.v[~np.isnan(ov.spark.v)]) == [-0.7] * 12
    assert set(ov.spark.colors) == {COLORS["angry"]}
    model.feed(event(8.0, "happy", valence=0.8))
    ov.refresh()
    assert ov.alert is False and NORMAL_FRAME in ov.frame.styleSheet()

    # dragged by the mouse; the position is saved and restored by a new overlay
    ov.move(300, 200)
    qapp.processEvents()
    start = ov.mapToGlobal(QPoint(40, 40))
    drag(ov, start, start + QPoint(-120, 65))
    qapp.processEvents()
    assert (ov.pos().x(), ov.pos().y()) == (180, 265)
    assert settings.value("overlay/pos", type=QPoint) == QPoint(180, 265)
    ov.close()
    again = OverlayWindow(make_model(LABELS, None),
                          settings=QSettings(str(tmp_path / "overlay.ini"), QSettings.Format.IniFormat))
    assert (again.pos().x(), again.pos().y()) == (180, 265)
    again.close()


def test_replay_of_a_damaged_message_file(tmp_path) -> None:
    """`dashboard --replay FILE.jsonl --screenshot`: lines that are not JSON (one cut short by a
    killed monitor) and messages with broken fields are skipped and said, the rest is drawn."""
    good = [status(0.5), event(2.0, "happy"), event(2.5, "sad"), status(3.0)]
    lines = [json.dumps(good[0]), "not json", json.dumps(good[1]),
             json.dumps({**event(2.2, "angry"), "t_end": "soon"}), json.dumps(good[2]),
             json.dumps(good[3]), json.dumps(event(3.5, "calm"))[:40]]
    msgs = tmp_path / "call.jsonl"
    msgs.write_text("\n".join(lines))
    png = tmp_path / "call.png"
    r = run_cli("dashboard", "--replay", msgs, "--screenshot", png, env=cli_env(QT_QPA_PLATFORM="offscreen"))
    assert r.returncode == 0, r
    shown = json.loads(r.stdout.strip().splitlines()[-1])
    assert shown["events"] == 2 and shown["label"] == "sad" and png.stat().st_size > 0
    assert f"{msgs}: skipped 2 line(s) that are not JSON objects (first: line 2)" in r.stderr
    assert f"{msgs}: skipped 1 message(s) with missing or non-numeric fields" in r.stderr
