"""The agent overlay: a small frameless, always-on-top, draggable window with the caller's
current emotion, a sparkline of the last minute (valence, points in emotion colours) and a red
frame once the caller has sounded negative for `model.negative_alert_s` seconds or longer.

Its position is kept in QSettings (`overlay/pos`) when it is dragged or closed, and restored
when it opens; tests pass their own QSettings (an INI file in a temporary folder).
"""
from __future__ import annotations

from PyQt6.QtCore import QPoint, QSettings, Qt, pyqtSignal
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .model import SessionModel, color_of
from .widgets import EmotionBadge, Sparkline

SPARK_S = 60.0
FLAGS = (Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
         | Qt.WindowType.Tool)
NORMAL_FRAME = "#455a64"
ALERT_FRAME = "#e53935"


def default_settings() -> QSettings:
    return QSettings("ser-live", "overlay")


class OverlayWindow(QWidget):
    closed = pyqtSignal()

    def __init__(self, model: SessionModel, settings: QSettings | None = None,
                 on_close=None, parent: QWidget | None = None) -> None:
        super().__init__(parent, FLAGS)
        self.model = model
        self.settings = settings if settings is not None else default_settings()
        self.on_close = on_close
        self.alert: bool | None = None
        self._rev = -1
        self._banner: str | None = None
        self._drag_from: QPoint | None = None
        self.setWindowTitle("ser-live overlay")
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground, False)

        self.frame = QFrame(self, objectName="overlayFrame")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.frame)
        col = QVBoxLayout(self.frame)
        col.setContentsMargins(8, 6, 8, 6)
        col.setSpacing(4)
        top = QHBoxLayout()
        self.badge = EmotionBadge(15)
        top.addWidget(self.badge, 1)
        close = QPushButton("\u00d7")
        close.setFixedSize(22, 22)
        close.setToolTip("close the overlay")
        close.setStyleSheet("QPushButton { color: #dddddd; background: transparent; border: none;"
                            " font-size: 14pt; }")
        close.clicked.connect(self.close)
        top.addWidget(close)
        col.addLayout(top)
        self.spark = Sparkline(SPARK_S)
        self.spark.setFixedHeight(38)
        col.addWidget(self.spark)
        self.note = QLabel()
        self.note.setStyleSheet("QLabel { color: #dddddd; font-size: 9pt; }")
        col.addWidget(self.note)
        self.setFixedSize(270, 124)
        self._restore_position()
        self.refresh(force=True)

    # ---- state -----------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        m = self.model
        st = m.current
        if not force and m.rev == self._rev and (st is None or st.ended) and not self._banner:
            return
        self._rev = m.rev
        alert = m.negative_alert()
        if alert != self.alert:
            self.alert = alert
            border, bg = (ALERT_FRAME, "#3b1515") if alert else (NORMAL_FRAME, "#202020")
            self.frame.setStyleSheet(f"QFrame#overlayFrame {{ background-color: {bg};"
                                     f" border: 3px solid {border}; border-radius: 8px; }}")
        if st is None:
            self.badge.set_emotion(None, None)
            self.note.setText("waiting for speech...")
            return
        ev = st.current
        self.badge.set_emotion(ev["label"] if ev else None, float(ev["confidence"]) if ev else None)
        end = st.now()
        t, v, labels = st.valence_trace(since=end - SPARK_S)
        self.spark.set_data(t, v, [color_of(lbl) for lbl in labels], end)
        banner = self._banner = m.banner()
        neg = st.negative_s()
        if banner:
            self.note.setText(f"\u26a0 {banner}")
        elif alert:
            self.note.setText(f"negative for {neg:.0f} s")
        else:
            self.note.setText(f"{st.stream}  \u00b7  valence {float(ev['valence']):+.2f}" if ev
                              else f"{st.stream}  \u00b7  {'speech' if st.speech else 'silence'}")

    # ---- dragging and position ---------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.globalPosition().toPoint() - self.frameGeometry().topLeft()
            event.accept()

    def mouseMoveEvent(self, event) -> None:
        if self._drag_from is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.move(event.globalPosition().toPoint() - self._drag_from)
            event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if self._drag_from is not None:
            self._drag_from = None
            self.save_position()
            event.accept()

    def save_position(self) -> None:
        self.settings.setValue("overlay/pos", self.pos())
        self.settings.sync()

    def _restore_position(self) -> None:
        pos = (self.settings.value("overlay/pos", type=QPoint)
               if self.settings.contains("overlay/pos") else None)
        screen = QGuiApplication.primaryScreen()
        area = screen.availableGeometry() if screen else None
        if pos is not None and (area is None or area.adjusted(-200, -80, 0, 0).contains(pos)):
            self.move(pos)
        elif area is not None:  # first run: top right corner
            self.move(area.right() - self.width() - 24, area.top() + 24)

    def closeEvent(self, event) -> None:
        self.save_position()
        if self.on_close is not None:
            self.on_close()
        super().closeEvent(event)
        self.closed.emit()
