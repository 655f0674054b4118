"""2-second analysis windows: the unit the model classifies.

Offline clips and live speech segments are cut the same way: a segment shorter than a window
is centred in it with zero padding (which the gain-referenced features read as silence), a
longer one gets windows every `hop` seconds, plus one aligned to the segment's end when more
than half a hop would otherwise be left out. A clip's prediction is the mean of its windows' probabilities.
"""
from __future__ import annotations

import numpy as np

from dataclasses import dataclass

from .audio.io import SAMPLE_RATE

WINDOW_S = 2.0
WINDOW = int(WINDOW_S * SAMPLE_RATE)
DEFAULT_HOP_S = 0.5


def window_starts(n_samples: int, hop: int, window: int = WINDOW) -> list[int]:
    """Start offsets of the windows covering `n_samples` (negative start = centred padding).

    A tail of at least half a hop past the last regular window gets one more window, aligned
    to the end; a shorter tail is already mostly inside the last window.
    """
    if n_samples <= window:
        return [-((window - n_samples) // 2)]
    starts = list(range(0, n_samples - window + 1, hop))
    if n_samples - (starts[-1] + window) >= hop // 2:
        starts.append(n_samples - window)
    return starts


def cut_window(audio: np.ndarray, start: int, window: int = WINDOW) -> np.ndarray:
    """The window of `audio` beginning at `start`, zero-padded where it runs off either end."""
    out = np.zeros(window, dtype=np.float32)
    lo, hi = max(start, 0), min(start + window, len(audio))
    if hi > lo:
        out[lo - start:hi - start] = audio[lo:hi]
    return out


def clip_windows(audio: np.ndarray, hop_s: float = DEFAULT_HOP_S) -> np.ndarray:
    """(n_windows, WINDOW) float32 windows covering a whole clip."""
    hop = max(1, int(hop_s * SAMPLE_RATE))
    return np.stack([cut_window(audio, s) for s in window_starts(len(audio), hop)])


@dataclass
class Window:
    """A 2 s window of one stream, ready for the classifier.

    `start`/`end` are stream sample indices of the real audio in it (padding excluded);
    `ready_at` is the monotonic time its last sample reached the engine, for latency.
    """

    stream: str
    start: int
    end: int
    audio: np.ndarray
    ready_at: float


class Windower:
    """Streaming counterpart of `clip_windows` for one stream's speech.

    Inside an utterance a window is cut every `hop` samples as soon as its last sample
    arrives; when the utterance ends, a short one is centred in a padded window, and an
    uncovered tail of half a hop or more gets a window aligned to the end, as offline.
    """

    def __init__(self, stream: str, hop_s: float = DEFAULT_HOP_S, min_speech_s: float = 0.25,
                 window: int = WINDOW) -> None:
        self.stream = stream
        self.hop = max(1, int(hop_s * SAMPLE_RATE))
        self.min_speech = int(min_speech_s * SAMPLE_RATE)
        self.window = window
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0       # stream index of _buf[0]
        self._utt_start: int | None = None
        self._next = 0            # start of the next regular window
        self._last_end: int | None = None  # end of the last window emitted in this utterance

    def push(self, start: int, audio: np.ndarray, now: float) -> list[Window]:
        """Speech audio beginning at stream index `start` (contiguous with earlier pushes)."""
        if self._utt_start is None:
            self._utt_start = self._next = self._buf_start = start
            self._buf = audio.astype(np.float32, copy=True)
        else:
            self._buf = np.concatenate([self._buf, audio])
        out = []
        buf_end = self._buf_start + len(self._buf)
        while self._next + self.window <= buf_end:
            out.append(self._cut(self._next, self._next + self.window, now))
            self._next += self.hop
        keep_from = min(self._next, buf_end - self.window)
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start:]
            self._buf_start = keep_from
        return out

    def end(self, end: int, now: float) -> list[Window]:
        """The utterance ended at stream index `end`: emit what is left, then start over."""
        out: list[Window] = []
        if self._utt_start is not None:
            end = min(end, self._buf_start + len(self._buf))
            length = end - self._utt_start
            if self._last_end is None and length >= self.min_speech:
                out.append(self._cut(self._utt_start, end, now))
            elif self._last_end is not None and end - self._last_end >= self.hop // 2:
                out.append(self._cut(max(end - self.window, self._buf_start), end, now))
        self.reset()
        return out

    def _cut(self, start: int, end: int, now: float) -> Window:
        audio = self._buf[start - self._buf_start:end - self._buf_start]
        if len(audio) < self.window:
            audio = cut_window(audio, -((self.window - len(audio)) // 2), self.window)
        self._last_end = end
        return Window(self.stream, start, end, np.ascontiguousarray(audio, dtype=np.float32), now)
