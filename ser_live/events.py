"""What the engine says: typed messages, their JSON form, smoothing and per-stream summaries.

Every message is one JSON object with `type` and `stream`. An `event` is one classified
window; `status` reports speech/silence, input level and overruns; `summary` closes a stream.
Times: `t_start`/`t_end` are seconds of stream time, `time` is wall-clock ISO 8601 (UTC).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from .labels import NEGATIVE, derived_views


def iso_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_of(iso: str) -> float:
    """Seconds since the epoch of a message's `time`: how a client measures an event's age."""
    return _dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class EmotionEvent:
    """One classified 2 s window."""

    stream: str
    t_start: float
    t_end: float
    time: str
    label: str
    confidence: float
    probs: dict[str, float]
    valence3: dict[str, float]
    arousal: float
    valence: float
    latency_ms: float
    smoothed: dict[str, float] | None = None
    type: str = "event"

    @classmethod
    def from_probs(cls, stream: str, t_start: float, t_end: float, labels: Sequence[str],
                   probs: np.ndarray, latency_ms: float,
                   smoothed: np.ndarray | None = None) -> "EmotionEvent":
        """Build an event; label, confidence and the derived views follow the smoothed
        probabilities when smoothing is on, the raw ones otherwise."""
        shown = probs if smoothed is None else smoothed
        top = int(np.argmax(shown))
        return cls(stream=stream, t_start=round(t_start, 3), t_end=round(t_end, 3), time=iso_now(),
                   label=labels[top], confidence=round(float(shown[top]), 4),
                   probs={lbl: round(float(p), 4) for lbl, p in zip(labels, probs)},
                   latency_ms=round(latency_ms, 2),
                   smoothed=None if smoothed is None else
                   {lbl: round(float(p), 4) for lbl, p in zip(labels, smoothed)},
                   **rounded_views(derived_views(labels, shown)))

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["smoothed"] is None:
            del d["smoothed"]
        return d


def rounded_views(views: dict) -> dict:
    """`labels.derived_views` to 4 decimals, as every message carries them."""
    return {"valence3": {k: round(v, 4) for k, v in views["valence3"].items()},
            "arousal": round(views["arousal"], 4), "valence": round(views["valence"], 4)}


@dataclass
class Status:
    """Engine state of one stream, sent at a steady rate whether or not anyone speaks."""

    stream: str
    t: float
    time: str
    speech: bool
    level_db: float
    overruns: int
    error: str | None = None
    type: str = "status"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Summary:
    """The end of a stream: how much of it was speech, and how it sounded."""

    stream: str
    time: str
    duration_s: float
    speech_s: float
    events: int
    share: dict[str, float]
    valence3_share: dict[str, float]
    longest_negative_s: float
    overruns: int
    type: str = "summary"

    def to_dict(self) -> dict:
        return asdict(self)


Message = EmotionEvent | Status | Summary


class Smoother:
    """Exponential moving average of probabilities over a stream's recent windows.

    Single windows of acted-corpus models are jumpy; a supervisor wants the mood of the last
    few seconds. `alpha` is the weight of the newest window (1 = no smoothing). A silence
    longer than `reset_after_s` starts over, so a new turn is not coloured by the last one.
    """

    def __init__(self, alpha: float = 0.5, reset_after_s: float = 5.0) -> None:
        self.alpha, self.reset_after = alpha, reset_after_s
        self.reset()

    def reset(self) -> None:
        self._state: np.ndarray | None = None
        self._last_end = -np.inf

    def update(self, probs: np.ndarray, t_start: float, t_end: float) -> np.ndarray:
        if self._state is None or t_start - self._last_end > self.reset_after:
            self._state = probs.astype(np.float64)
        else:
            self._state = self.alpha * probs + (1 - self.alpha) * self._state
        self._last_end = t_end
        return self._state


@dataclass
class SummaryBuilder:
    """Accumulates a stream's events into its `Summary`.

    Time shares count each stretch of speech once: where windows overlap, the overlap
    counts for the earlier window.
    """

    stream: str
    labels: Sequence[str]
    seconds: dict[str, float] = field(default_factory=dict)
    events: int = 0
    _covered_to: float = 0.0
    _neg_run_start: float | None = None
    _neg_last_end: float = 0.0
    longest_negative: float = 0.0

    def add(self, ev: EmotionEvent) -> None:
        self.events += 1
        start = max(ev.t_start, self._covered_to)
        if ev.t_end > start:
            self.seconds[ev.label] = self.seconds.get(ev.label, 0.0) + ev.t_end - start
            self._covered_to = ev.t_end
        if ev.label in NEGATIVE:
            # a negative stretch continues across gaps shorter than one window
            if self._neg_run_start is None or ev.t_start - self._neg_last_end > 2.0:
                self._neg_run_start = ev.t_start
            self._neg_last_end = max(self._neg_last_end, ev.t_end)
            self.longest_negative = max(self.longest_negative, self._neg_last_end - self._neg_run_start)
        else:
            self._neg_run_start = None

    def build(self, duration_s: float, overruns: int) -> Summary:
        speech = sum(self.seconds.values())
        share = {lbl: round(self.seconds.get(lbl, 0.0) / speech, 4) if speech else 0.0
                 for lbl in self.labels}
        v3 = derived_views(self.labels, np.array([share[lbl] for lbl in self.labels]))["valence3"]
        return Summary(stream=self.stream, time=iso_now(), duration_s=round(duration_s, 3),
                       speech_s=round(speech, 3), events=self.events, share=share,
                       valence3_share={k: round(v, 4) for k, v in v3.items()} if speech else
                       {k: 0.0 for k in v3},
                       longest_negative_s=round(self.longest_negative, 3), overruns=overruns)
