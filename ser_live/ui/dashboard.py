"""The dashboard window: live emotion trace, current emotion, valence/arousal, input level,
speech indicator, device picker, start/stop, history length and session export.

The window only reads the `SessionModel`; `refresh()` (called by the message pump at ~30 Hz on
the UI thread) pushes new data into the widgets when `model.rev` moved and scrolls the trace
to the stream clock every time. Nothing here waits for the engine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QEvent, QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import (QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow,
                             QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ..labels import VALENCE3
from .model import SessionModel, color_of
from .widgets import Banner, CircumplexView, EmotionBadge, LevelMeter, SpeechIndicator

BACKGROUND = "#1e1e1e"
STRIP_Y0, STRIP_H = -0.085, 0.055   # the label strip under the trace: one bar per event
STRIP_W = 0.5                       # seconds a strip bar covers (the engine's default hop)


class Controller(Protocol):
    """What the dashboard's start/stop and device picker drive (see app.EngineController)."""

    running: bool
    device: str | None

    def start(self, device: str | None = None) -> None: ...
    def stop(self) -> None: ...
    def devices(self) -> list[tuple[str, str]]: ...   # (id to pass to start, name to show)


class _PaintCounter(QObject):
    """Counts paint events of the plot's viewport: the frames really drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


class DashboardWindow(QMainWindow):
    closed = pyqtSignal()

    def __init__(self, model: SessionModel, controller: Controller | None = None,
                 source_name: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.controller = controller
        self._rev = -1
        self._xrange: tuple[float, float] | None = None
        self._streams: list[str] = []
        self.setWindowTitle(f"ser-live \u2014 {source_name}" if source_name else "ser-live")
        self.setStyleSheet(f"QMainWindow, QWidget#central {{ background-color: {BACKGROUND}; }}"
                           " QLabel { color: #dddddd; }")

        central = QWidget(objectName="central")
        outer = QVBoxLayout(central)
        outer.setContentsMargins(8, 8, 8, 8)
        self.banner = Banner()
        outer.addWidget(self.banner)
        outer.addLayout(self._controls(source_name))

        body = QHBoxLayout()
        outer.addLayout(body, 1)
        self.plot = self._make_plot()
        body.addWidget(self.plot, 3)
        body.addWidget(self._side_panel(), 0)
        self.setCentralWidget(central)
        self.status_text = QLabel()
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().setStyleSheet("QStatusBar { color: #bbbbbb; }")
        self.resize(1180, 620)
        self.refresh(force=True)

    # ---- construction --------------------------------------------------------------------
    def _controls(self, source_name: str | None) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Input"))
        self.device_box = QComboBox()
        self.device_box.setMinimumWidth(240)
        ctl = self.controller
        devices = ctl.devices() if ctl else []
        if devices:
            for dev_id, name in devices:
                self.device_box.addItem(name, dev_id)
            if ctl and ctl.device is not None:
                i = self.device_box.findData(str(ctl.device))
                if i >= 0:
                    self.device_box.setCurrentIndex(i)
            self.device_box.activated.connect(self._device_chosen)
        else:
            self.device_box.addItem(source_name or "(no input devices)", None)
            self.device_box.setEnabled(False)
        row.addWidget(self.device_box)
        self.start_button = QPushButton("Stop")
        self.start_button.setEnabled(ctl is not None)
        self.start_button.clicked.connect(self._toggle)
        row.addWidget(self.start_button)
        row.addSpacing(12)
        row.addWidget(QLabel("History"))
        self.history_box = QSpinBox()
        self.history_box.setRange(10, 3600)
        self.history_box.setSingleStep(10)
        self.history_box.setSuffix(" s")
        self.history_box.setValue(int(round(self.model.history_s)))
        self.history_box.valueChanged.connect(self.set_history)
        row.addWidget(self.history_box)
        self.stream_box = QComboBox()
        self.stream_box.setVisible(False)
        self.stream_box.activated.connect(self._stream_chosen)
        row.addWidget(self.stream_box)
        row.addStretch(1)
        for text, slot in (("Export CSV", lambda: self._ask_export("csv")),
                           ("Export JSON", lambda: self._ask_export("json")),
                           ("Save trace PNG", lambda: self._ask_export("png"))):
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
        return row

    def _make_plot(self) -> pg.PlotWidget:
        pg.setConfigOptions(antialias=False, background=BACKGROUND, foreground="#cccccc")
        plot = pg.PlotWidget()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.disableAutoRange()
        plot.setYRange(STRIP_Y0 - 0.01, 1.0, padding=0.01)
        plot.getAxis("left").setTicks([[(v / 5, f"{v / 5:.1f}") for v in range(6)]])
        plot.setLabel("left", "probability")
        plot.setLabel("bottom", "seconds ago")
        # no grid: its lines fill the whole view and cost ~40 % of every scrolled frame
        legend = plot.addLegend(offset=(6, 4), colCount=4, labelTextColor="#dddddd",
                                brush=pg.mkBrush(30, 30, 30, 200))
        self.legend = legend
        labels = self.model.labels or []
        # bare PlotCurveItems: a PlotDataItem re-derives its curve's data whenever it moves,
        # which would cost a full rebuild per scrolled frame
        self.curves: dict[str, pg.PlotCurveItem] = {}
        for lbl in labels:
            curve = pg.PlotCurveItem(np.empty(0), np.empty(0), name=lbl, connect="finite",
                                     pen=pg.mkPen(color_of(lbl), width=2))
            plot.addItem(curve)
            self.curves[lbl] = curve
        self.strip = pg.BarGraphItem(x0=[], y0=[], width=STRIP_W, height=STRIP_H,
                                     brushes=[], pen=pg.mkPen(None))
        plot.addItem(self.strip)
        self.strip_labels: list[str] = []
        self._scrolling = [*self.curves.values(), self.strip]
        self.paints = _PaintCounter()
        plot.viewport().installEventFilter(self.paints)
        return plot

    def _side_panel(self) -> QWidget:
        panel = QFrame()
        panel.setFixedWidth(300)
        col = QVBoxLayout(panel)
        col.setContentsMargins(8, 0, 0, 0)
        self.stream_label = QLabel()
        self.stream_label.setStyleSheet("QLabel { color: #9e9e9e; }")
        col.addWidget(self.stream_label)
        self.badge = EmotionBadge(28)
        col.addWidget(self.badge)
        self.valence3_label = QLabel()
        self.valence3_label.setTextFormat(Qt.TextFormat.RichText)
        col.addWidget(self.valence3_label)
        self.circumplex = CircumplexView()
        self.circumplex.setFixedHeight(170)
        col.addWidget(self.circumplex)
        self.va_label = QLabel()
        self.va_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(self.va_label)
        col.addSpacing(6)
        level_row = QHBoxLayout()
        level_row.addWidget(QLabel("Level"))
        self.meter = LevelMeter()
        level_row.addWidget(self.meter, 1)
        self.level_label = QLabel()
        self.level_label.setMinimumWidth(70)
        level_row.addWidget(self.level_label)
        col.addLayout(level_row)
        self.speech = SpeechIndicator()
        col.addWidget(self.speech)
        self.negative_label = QLabel()
        col.addWidget(self.negative_label)
        col.addStretch(1)
        return panel

    # ---- updates ---------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Bring the widgets up to the model; cheap when nothing changed but the clock."""
        m = self.model
        lo, hi = m.window()
        if force or m.rev != self._rev:
            self._rev = m.rev
            self._update_data(lo)
        self.banner.set_message(m.banner())  # also wall-time based: a stream gone quiet
        if (lo, hi) != self._xrange:
            # the view's range stays [-history, 0] ("seconds ago"); scrolling moves the items,
            # which costs a transform instead of new data, new axis ticks and a re-layout
            if self._xrange is None or hi - lo != self._xrange[1] - self._xrange[0]:
                self.plot.setXRange(lo - hi, 0.0, padding=0)
            self._xrange = (lo, hi)
            for item in self._scrolling:
                item.setPos(-hi, 0.0)

    def _update_data(self, lo: float) -> None:
        m = self.model
        if list(m.streams) != self._streams:
            self._streams = list(m.streams)
            self.stream_box.clear()
            self.stream_box.addItems(self._streams)
            self.stream_box.setVisible(len(self._streams) > 1)
        st = m.current
        if self.controller is not None:
            self.start_button.setText("Stop" if self.controller.running else "Start")
        if st is None:
            for c in self.curves.values():
                c.setData(np.empty(0), np.empty(0))
            self.badge.set_emotion(None, None)
            self.status_text.setText("waiting for audio...")
            return
        if self.stream_box.currentText() != st.stream and st.stream in self._streams:
            self.stream_box.setCurrentIndex(self._streams.index(st.stream))
        t, p = st.trace(since=lo - 2.0)
        for k, lbl in enumerate(m.labels or []):
            if lbl in self.curves:
                self.curves[lbl].setData(t, p[:, k], connect="finite")
        ts, labs = st.label_trace(since=lo - STRIP_W)
        self.strip_labels = labs
        self.strip.setOpts(x0=ts - STRIP_W, y0=np.full(len(ts), STRIP_Y0), width=STRIP_W,
                           height=STRIP_H, brushes=[pg.mkBrush(color_of(lbl)) for lbl in labs])
        ev = st.current
        self.stream_label.setText(f"stream {st.stream}")
        if ev is not None:
            self.badge.set_emotion(ev["label"], float(ev["confidence"]))
            v3 = ev.get("valence3") or {}
            self.valence3_label.setText(" &nbsp; ".join(
                f"<span style='color:{c}'>{k} {v3.get(k, 0.0):.0%}</span>"
                for k, c in zip(VALENCE3, ("#ef5350", "#bdbdbd", "#66bb6a"))))
            self.circumplex.set_point(float(ev["valence"]), float(ev["arousal"]), ev["label"])
            self.va_label.setText(f"valence {float(ev['valence']):+.2f}   arousal {float(ev['arousal']):+.2f}")
        else:
            self.badge.set_emotion(None, None)
        self.meter.set_level(st.level_db)
        self.level_label.setText(f"{st.level_db:.0f} dBFS" if st.level_db > -120 else "\u2212\u221e dBFS")
        self.speech.set_speech(st.speech)
        neg = st.negative_s()
        alert = m.negative_alert()
        color, note = ("#ef5350", " \u2014 sustained") if alert else ("#bbbbbb", "")
        self.negative_label.setText(
            f"<span style='color:{color}'>negative for {neg:.0f} s{note}</span>" if neg > 0 else "")
        state = "ended" if st.ended else ("live" if self.controller and self.controller.running else "")
        self.status_text.setText(
            f"{st.stream}  {st.clock:7.1f} s  {state}  |  {st.events} events  |  "
            f"overruns {st.overruns}" + (f"  |  latency {float(ev['latency_ms']):.0f} ms" if ev else ""))

    def set_history(self, seconds: int) -> None:
        self.model.set_history(seconds)
        if self.history_box.value() != int(seconds):
            self.history_box.setValue(int(seconds))
        self.refresh()

    def _stream_chosen(self, index: int) -> None:
        if 0 <= index < len(self._streams):
            self.model.follow = self._streams[index]
            self.model.rev += 1
            self.refresh()

    def _device_chosen(self, index: int) -> None:
        if self.controller is not None:
            self.controller.start(self.device_box.itemData(index))
            self.refresh(force=True)

    def _toggle(self) -> None:
        ctl = self.controller
        if ctl is None:
            return
        if ctl.running:
            ctl.stop()
        else:
            ctl.start(self.device_box.currentData())
        self.start_button.setText("Stop" if ctl.running else "Start")

    # ---- export ------------------------------------------------------------------------------
    def export_events(self, path: str | Path) -> Path:
        """The session's events: CSV for a .csv path, JSON otherwise."""
        p = Path(path)
        return self.model.export_csv(p) if p.suffix.lower() == ".csv" else self.model.export_json(p)

    def export_png(self, path: str | Path) -> Path:
        """The trace plot as PNG."""
        self.refresh(force=True)
        if not self.plot.grab().save(str(path)):
            raise OSError(f"{path}: cannot write PNG")
        return Path(path)

    def _ask_export(self, kind: str) -> None:
        filters = {"csv": "CSV (*.csv)", "json": "JSON (*.json)", "png": "PNG image (*.png)"}
        path, _ = QFileDialog.getSaveFileName(self, "Export", f"ser-live-session.{kind}", filters[kind])
        if not path:
            return
        try:
            out = self.export_png(path) if kind == "png" else self.export_events(path)
            self.statusBar().showMessage(f"wrote {out}", 5000)
        except OSError as exc:
            self.banner.set_message(f"export failed: {exc}")

    # ---- lifetime ----------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if self.controller is not None:
            self.controller.stop()
        super().closeEvent(event)
        self.closed.emit()
