"""Small widgets shared by the dashboard and the overlay: all cheap to repaint, and all of
them change state only when their value changed (so an idle view costs nothing)."""
from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PyQt6.QtWidgets import QLabel, QSizePolicy, QWidget

from .model import color_of

LEVEL_MIN_DB = -60.0


def text_color_on(hex_color: str) -> str:
    """Black or white, whichever reads better on `hex_color`."""
    c = QColor(hex_color)
    lum = 0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF()
    return "#111111" if lum > 0.55 else "#ffffff"


class EmotionBadge(QLabel):
    """The current emotion in large type on its product colour, with its confidence."""

    def __init__(self, point_size: int = 28, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.point_size = point_size
        self.label: str | None = None
        self.confidence: float | None = None
        self.color = color_of(None)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.set_emotion(None, None)

    def set_emotion(self, label: str | None, confidence: float | None) -> None:
        if (label, confidence) == (self.label, confidence) and self.text():
            return
        self.label, self.confidence = label, confidence
        self.color = color_of(label)
        fg = text_color_on(self.color) if label else "#eeeeee"
        bg = self.color if label else "#424242"
        self.setText(f"{label}  {confidence:.0%}" if label and confidence is not None
                     else (label or "listening..."))
        self.setStyleSheet(f"QLabel {{ background-color: {bg}; color: {fg}; border-radius: 6px;"
                           f" padding: 6px 12px; font-size: {self.point_size}pt; font-weight: bold; }}")


class LevelMeter(QWidget):
    """Input level, LEVEL_MIN_DB..0 dBFS, as a horizontal bar (green, amber near clipping)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level_db = -120.0
        self.setMinimumSize(120, 14)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def fraction(self) -> float:
        return min(1.0, max(0.0, (self.level_db - LEVEL_MIN_DB) / -LEVEL_MIN_DB))

    def set_level(self, db: float) -> None:
        if db != self.level_db:
            self.level_db = db
            self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        r = self.rect()
        p.fillRect(r, QColor("#303030"))
        f = self.fraction()
        color = "#43a047" if self.level_db < -12 else ("#fdd835" if self.level_db < -3 else "#e53935")
        p.fillRect(QRectF(0, 0, r.width() * f, r.height()), QColor(color))
        p.end()


class SpeechIndicator(QLabel):
    """A dot and a word: speech (green) or silence (grey)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.speech: bool | None = None
        self.set_speech(False)

    def set_speech(self, speech: bool) -> None:
        if speech == self.speech:
            return
        self.speech = speech
        color = "#43a047" if speech else "#757575"
        self.setText(f"<span style='color:{color}; font-size:16pt'>\u25cf</span> "
                     f"{'speech' if speech else 'silence'}")


class Banner(QLabel):
    """A warning strip (vanished device, engine error); hidden while there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message: str | None = None
        self.setWordWrap(True)
        self.setStyleSheet("QLabel { background-color: #ffb300; color: #111111; padding: 6px;"
                           " font-weight: bold; }")
        self.hide()

    def set_message(self, text: str | None) -> None:
        if text == self.message:
            return
        self.message = text
        self.setText(f"\u26a0 {text}" if text else "")
        self.setVisible(bool(text))


class CircumplexView(QWidget):
    """Valence (x) and arousal (y), both -1..1, as a dot in the circumplex plane."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.valence = self.arousal = 0.0
        self.label: str | None = None
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def set_point(self, valence: float, arousal: float, label: str | None) -> None:
        if (valence, arousal, label) != (self.valence, self.arousal, self.label):
            self.valence, self.arousal, self.label = valence, arousal, label
            self.update()

    def heightForWidth(self, w: int) -> int:
        return w

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = min(self.width(), self.height()) - 2
        x0, y0 = (self.width() - side) / 2, (self.height() - side) / 2
        box = QRectF(x0, y0, side, side)
        p.fillRect(box, QColor("#2b2b2b"))
        p.setPen(QPen(QColor("#5a5a5a"), 1))
        p.drawEllipse(box.adjusted(4, 4, -4, -4))
        p.drawLine(QPointF(box.center().x(), box.top()), QPointF(box.center().x(), box.bottom()))
        p.drawLine(QPointF(box.left(), box.center().y()), QPointF(box.right(), box.center().y()))
        f = QFont(self.font())
        f.setPointSize(7)
        p.setFont(f)
        p.setPen(QColor("#9e9e9e"))
        p.drawText(box.adjusted(3, 1, -3, -1), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter, "aroused")
        p.drawText(box.adjusted(3, 1, -3, -1), Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter, "calm")
        p.drawText(box.adjusted(3, 1, -3, -1), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, "\u2212")
        p.drawText(box.adjusted(3, 1, -3, -1), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, "+")
        if self.label is not None:
            cx = box.center().x() + self.valence * (side / 2 - 8)
            cy = box.center().y() - self.arousal * (side / 2 - 8)
            p.setPen(QPen(QColor("#ffffff"), 1.5))
            p.setBrush(QColor(color_of(self.label)))
            p.drawEllipse(QPointF(cx, cy), 7, 7)
        p.end()


class Sparkline(QWidget):
    """Valence (-1..1) over the last `span_s` seconds as a line; points take the colour of
    their event's emotion. `set_data` with the same arrays costs nothing."""

    def __init__(self, span_s: float = 60.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.span_s = span_s
        self.t = np.empty(0)
        self.v = np.empty(0)
        self.colors: list[str] = []
        self.end = 0.0
        self.setMinimumSize(120, 30)

    def set_data(self, t: np.ndarray, v: np.ndarray, colors: list[str], end: float) -> None:
        self.t, self.v, self.colors, self.end = t, v, colors, end
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        p.setPen(QPen(QColor(255, 255, 255, 60), 1, Qt.PenStyle.DotLine))
        p.drawLine(QPointF(0, h / 2), QPointF(w, h / 2))
        if len(self.t):
            x = (self.t - (self.end - self.span_s)) / self.span_s * w
            y = h / 2 - self.v * (h / 2 - 3)
            path = QPainterPath()
            pen_down = False
            for xi, yi in zip(x, y):
                if math.isnan(xi) or math.isnan(yi):
                    pen_down = False
                    continue
                if pen_down:
                    path.lineTo(xi, yi)
                else:
                    path.moveTo(xi, yi)
                    pen_down = True
            p.setPen(QPen(QColor("#e0e0e0"), 1.5))
            p.drawPath(path)
            p.setPen(Qt.PenStyle.NoPen)
            k = 0
            for xi, yi in zip(x, y):
                if not math.isnan(xi):
                    p.setBrush(QColor(self.colors[k] if k < len(self.colors) else "#9e9e9e"))
                    p.drawEllipse(QPointF(xi, yi), 2.2, 2.2)
                    k += 1
        p.end()
