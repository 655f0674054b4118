"""The view model behind the dashboard and the overlay; no Qt in here.

It consumes plain message dicts, the JSON form of the engine's messages
(`EmotionEvent.to_dict()`, `Status.to_dict()`, `Summary.to_dict()`; objects with a `to_dict`
are accepted too), so the same model can be fed by the local engine, a replayed JSONL file or
a websocket client. Per stream it keeps:

- the trace: one row of class probabilities per event, at the event's `t_end` (the moment its
  audio was complete), with NaN rows where speech stopped so plots break over silence;
- the current emotion (label, confidence, valence3, valence, arousal) of the last event;
- the input state of the last `status` (speech, level, overruns, `error` of a vanished device);
- the current stretch of negative emotion, counted like the summary's `longest_negative_s`
  (a stretch continues across gaps of up to `NEGATIVE_GAP_S`), and whether it has lasted
  `negative_alert_s` or longer;
- a stream clock: the latest stream time seen, advanced between messages by wall time (at most
  `MAX_EXTRAPOLATE_S`) so a live trace scrolls smoothly; it stops at the stream's summary.

`rev` increases with every change, so a view redraws its data only when something changed.
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..labels import COLORS, LABELS, NEGATIVE, VALENCE3

NEGATIVE_GAP_S = 2.0      # as SummaryBuilder: a negative stretch survives gaps this short
TRACE_GAP_S = 1.5         # events further apart than this are not joined by a line
MAX_EXTRAPOLATE_S = 1.0   # the live clock runs ahead of the last message at most this far
STALE_S = 2.5             # a live stream with no message for this long gets a banner
DEFAULT_HISTORY_S = 60.0
DEFAULT_NEGATIVE_ALERT_S = 10.0


def as_dict(msg: Any) -> dict | None:
    """A message as its JSON dict (dicts pass through); None for anything else."""
    if isinstance(msg, dict):
        return msg
    to_dict = getattr(msg, "to_dict", None)
    return to_dict() if callable(to_dict) else None


def color_of(label: str | None) -> str:
    """The product colour of an emotion (labels.COLORS); grey for none or unknown."""
    return COLORS.get(label or "", "#9e9e9e")


@dataclass
class StreamState:
    """Everything the views show about one stream."""

    stream: str
    labels: list[str]
    # trace: rows at event t_end; grown by doubling
    _t: np.ndarray = field(default_factory=lambda: np.empty(0))
    _p: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    _v: np.ndarray = field(default_factory=lambda: np.empty(0))
    _l: np.ndarray = field(default_factory=lambda: np.empty(0, np.int16))
    n: int = 0
    current: dict | None = None          # the last event
    events: int = 0
    clock: float = 0.0                   # latest stream time seen (s)
    clock_wall: float = 0.0              # time.monotonic() when `clock` last moved
    speech: bool = False
    level_db: float = -120.0
    overruns: int = 0
    error: str | None = None
    summary: dict | None = None
    neg_start: float | None = None
    neg_end: float = 0.0
    last_wall: float = 0.0               # time.monotonic() of the last message

    def __post_init__(self) -> None:
        self._t = np.empty(256)
        self._p = np.empty((256, len(self.labels)))
        self._v = np.empty(256)
        self._l = np.empty(256, np.int16)

    @property
    def ended(self) -> bool:
        return self.summary is not None

    def _advance(self, t: float, wall: float) -> None:
        if t >= self.clock:
            self.clock, self.clock_wall = t, wall

    def now(self, wall: float | None = None) -> float:
        """Stream time to show: the clock, run on by wall time while the stream is live."""
        if self.ended or self.clock_wall == 0.0:
            return self.clock
        wall = time.monotonic() if wall is None else wall
        return self.clock + min(max(wall - self.clock_wall, 0.0), MAX_EXTRAPOLATE_S)

    def add_event(self, ev: dict, wall: float) -> None:
        probs = ev.get("probs") or {}
        row = np.array([float(probs.get(lbl, 0.0)) for lbl in self.labels])
        t = float(ev["t_end"])
        if self.n == len(self._t):
            cap = 2 * len(self._t)
            self._t = np.resize(self._t, cap)
            self._p = np.resize(self._p, (cap, len(self.labels)))
            self._v = np.resize(self._v, cap)
            self._l = np.resize(self._l, cap)
        i = self.n
        if i and t < self._t[i - 1]:  # out of order (never from one engine): keep sorted
            i = int(np.searchsorted(self._t[:self.n], t, side="right"))
            self._t[i + 1:self.n + 1] = self._t[i:self.n].copy()
            self._p[i + 1:self.n + 1] = self._p[i:self.n].copy()
            self._v[i + 1:self.n + 1] = self._v[i:self.n].copy()
            self._l[i + 1:self.n + 1] = self._l[i:self.n].copy()
        self._t[i], self._p[i], self._v[i] = t, row, float(ev.get("valence", 0.0))
        label = ev.get("label")
        self._l[i] = self.labels.index(label) if label in self.labels else -1
        self.n += 1
        self.events += 1
        self.last_wall = wall
        if self.current is None or t >= float(self.current["t_end"]):
            self.current = ev
        self._advance(t, wall)
        if ev.get("label") in NEGATIVE:
            if self.neg_start is None or float(ev["t_start"]) - self.neg_end > NEGATIVE_GAP_S:
                self.neg_start = float(ev["t_start"])
            self.neg_end = max(self.neg_end, t)
        else:
            self.neg_start = None

    def add_status(self, st: dict, wall: float) -> None:
        self.last_wall = wall
        self.speech = bool(st.get("speech"))
        self.level_db = float(st.get("level_db", -120.0))
        self.overruns = int(st.get("overruns", 0))
        self.error = st.get("error") or None
        self._advance(float(st.get("t", self.clock)), wall)

    def silent_for(self, wall: float | None = None) -> float:
        """Wall seconds since this live stream last said anything (0 once it has ended)."""
        if self.ended or self.clock_wall == 0.0:
            return 0.0
        return (time.monotonic() if wall is None else wall) - self.last_wall

    def negative_s(self, now: float | None = None) -> float:
        """Length of the current negative stretch (0 when there is none, or it lapsed)."""
        if self.neg_start is None:
            return 0.0
        now = self.clock if now is None else now
        if now - self.neg_end > NEGATIVE_GAP_S:
            return 0.0
        return self.neg_end - self.neg_start

    def trace(self, since: float = -math.inf) -> tuple[np.ndarray, np.ndarray]:
        """(t, probs) of events with t_end >= `since`; a NaN row between events further apart
        than TRACE_GAP_S, so a plot with connect='finite' breaks over silence."""
        t, p = self._t[:self.n], self._p[:self.n]
        k = int(np.searchsorted(t, since, side="left"))
        if k > 0:
            k -= 1  # one point before the window, so a line enters from the left edge
        t, p = t[k:], p[k:]
        gaps = np.flatnonzero(np.diff(t) > TRACE_GAP_S) + 1
        if len(gaps):
            t = np.insert(t, gaps, np.nan)
            p = np.insert(p, gaps, np.nan, axis=0)
        return t, p

    def label_trace(self, since: float = -math.inf) -> tuple[np.ndarray, list[str]]:
        """(t_end, label) of events with t_end >= `since` (no gap rows)."""
        k = int(np.searchsorted(self._t[:self.n], since, side="left"))
        return (self._t[k:self.n].copy(),
                [self.labels[j] if j >= 0 else "" for j in self._l[k:self.n]])

    def valence_trace(self, since: float = -math.inf) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(t, valence, labels) of events with t_end >= `since`, NaN gaps like `trace`
        (`labels` has one entry per non-NaN point)."""
        t, v, lab = self._t[:self.n], self._v[:self.n], self._l[:self.n]
        k = max(0, int(np.searchsorted(t, since, side="left")) - 1)
        t, v, lab = t[k:], v[k:], lab[k:]
        gaps = np.flatnonzero(np.diff(t) > TRACE_GAP_S) + 1
        if len(gaps):
            t, v = np.insert(t, gaps, np.nan), np.insert(v, gaps, np.nan)
        return t, v, [self.labels[j] if j >= 0 else "" for j in lab]


#: numbers each kind of message must carry, and those it may carry, for the views to place it
_NEEDED = {"event": ("t_start", "t_end", "confidence", "valence", "arousal"), "status": ("t",),
           "summary": ("duration_s",)}
_OPTIONAL = ("level_db", "overruns")


def well_formed(kind: str, d: dict) -> bool:
    """Whether the views can place this message: its times and scores are finite numbers, the
    numbers it may carry are numbers, and an event has a label and probabilities by label."""
    probs = d.get("probs")
    if kind == "event" and not (isinstance(d.get("label"), str) and isinstance(probs, dict)):
        return False
    numbers = [d.get(k) for k in _NEEDED[kind]] + [d[k] for k in _OPTIONAL if d.get(k) is not None]
    numbers += list(probs.values()) if isinstance(probs, dict) else []
    try:
        return all(math.isfinite(float(x)) for x in numbers)
    except (TypeError, ValueError):  # None, a string, a list...
        return False


class SessionModel:
    """All streams of a session, the one the views follow, and the session's messages.

    `feed(msg)` takes one message (dict or object with `to_dict`); unknown types are ignored
    so that a feed may carry more kinds of message than this model knows, and a malformed one
    (a damaged recording, a feed of another version) is dropped and counted in `malformed`
    rather than raised inside the UI's event loop, where it would end the window.
    """

    def __init__(self, labels: Sequence[str] | None = None, history_s: float = DEFAULT_HISTORY_S,
                 negative_alert_s: float = DEFAULT_NEGATIVE_ALERT_S, follow: str | None = None,
                 keep_events: int = 200_000) -> None:
        self.labels = list(labels) if labels else None
        self.history_s = float(history_s)
        self.negative_alert_s = float(negative_alert_s)
        self.follow = self._follow_given = follow  # the stream the views show (None: first seen)
        self.streams: dict[str, StreamState] = {}
        self.events: list[dict] = []     # every event of the session, for export
        self.summaries: list[dict] = []
        self.keep_events = keep_events
        self.engine_error: str | None = None
        self.malformed = 0               # messages dropped because the views cannot place them
        self.rev = 0                     # bumps on every change

    # ---- input ---------------------------------------------------------------------------
    def feed(self, msg: Any, wall: float | None = None) -> bool:
        """Take one message; True if it changed anything."""
        d = as_dict(msg)
        if d is None:
            return False
        kind, name = d.get("type"), d.get("stream")
        if kind not in _NEEDED or name is None:
            return False
        if not well_formed(kind, d):
            self.malformed += 1
            return False
        wall = time.monotonic() if wall is None else wall
        st = self._stream(str(name), d)
        if kind == "event":
            st.add_event(d, wall)
            if len(self.events) < self.keep_events:
                self.events.append(d)
        elif kind == "status":
            st.add_status(d, wall)
        else:
            st.summary = d
            st.speech = False
            st.clock = max(st.clock, float(d.get("duration_s", st.clock)))
            self.summaries.append(d)
        self.rev += 1
        return True

    def feed_all(self, msgs: Iterable[Any]) -> int:
        return sum(self.feed(m) for m in msgs)

    def clear(self) -> None:
        """Forget every stream and message (a new session); settings stay."""
        self.streams.clear()
        self.events.clear()
        self.summaries.clear()
        self.follow = self._follow_given
        self.engine_error = None
        self.rev += 1

    def set_engine_error(self, text: str | None) -> None:
        if text != self.engine_error:
            self.engine_error = text
            self.rev += 1

    def _stream(self, name: str, d: dict) -> StreamState:
        st = self.streams.get(name)
        if st is None:
            if self.labels is None:
                probs = d.get("probs")
                self.labels = list(probs) if isinstance(probs, dict) and probs else list(LABELS)
            st = self.streams[name] = StreamState(name, self.labels)
            if self.follow is None:
                self.follow = name
        return st

    # ---- what the views read -------------------------------------------------------------
    @property
    def current(self) -> StreamState | None:
        """The followed stream (None before the first message)."""
        return self.streams.get(self.follow) if self.follow else None

    def set_history(self, seconds: float) -> None:
        self.history_s = max(5.0, float(seconds))
        self.rev += 1

    def window(self, wall: float | None = None) -> tuple[float, float]:
        """(start, end) stream time of the visible trace: the last `history_s` seconds up to
        the stream clock (a strip chart: it scrolls from the first second on)."""
        st = self.current
        end = st.now(wall) if st else 0.0
        return end - self.history_s, end

    def negative_alert(self) -> bool:
        st = self.current
        return bool(st and st.negative_s() >= self.negative_alert_s)

    def banner(self, wall: float | None = None) -> str | None:
        """The problem to show on top of the window, if any: an engine failure, a source's
        `error` (a vanished device being retried), or a live stream gone quiet: the engine
        sends `status` every 0.5 s of audio, so none for STALE_S means no audio is arriving."""
        if self.engine_error:
            return self.engine_error
        many = len(self.streams) > 1
        errs = [f"{s.stream}: {s.error}" if many else s.error for s in self.streams.values() if s.error]
        if not errs:
            wall = time.monotonic() if wall is None else wall
            errs = [f"no audio from {s.stream} for {s.silent_for(wall):.0f} s; waiting for the input"
                    for s in self.streams.values() if s.silent_for(wall) >= STALE_S]
        return "; ".join(errs) if errs else None

    # ---- export -------------------------------------------------------------------------
    def export_json(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(json.dumps({"labels": self.labels or list(LABELS), "events": self.events,
                                 "summaries": self.summaries}, indent=1) + "\n", encoding="utf-8")
        return p

    def export_csv(self, path: str | Path) -> Path:
        """One row per event: the columns of `ser-live analyze --format csv`, plus time,
        the three valence3 shares and latency."""
        labels = self.labels or list(LABELS)
        p = Path(path)
        with p.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["stream", "t_start", "t_end", "time", "label", "confidence", *labels,
                        "valence3", *[f"valence3_{k}" for k in VALENCE3], "arousal", "valence",
                        "latency_ms"])
            for e in self.events:
                v3 = e.get("valence3") or {}
                w.writerow([e["stream"], e["t_start"], e["t_end"], e.get("time", ""), e["label"],
                            e["confidence"], *[e["probs"].get(lbl, 0.0) for lbl in labels],
                            max(v3, key=v3.get) if v3 else "", *[v3.get(k, 0.0) for k in VALENCE3],
                            e.get("arousal", 0.0), e.get("valence", 0.0), e.get("latency_ms", "")])
        return p
