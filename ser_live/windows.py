"""2-second analysis windows: the unit the model classifies.

Offline clips and live speech segments are cut the same way: a segment shorter than a window
is centred in it with zero padding (which the gain-referenced features read as silence), a
longer one gets windows every `hop` seconds, the last one aligned to the segment's end so
no speech is left out. A clip's prediction is the mean of its windows' probabilities.
"""
from __future__ import annotations

import numpy as np

from .audio.io import SAMPLE_RATE

WINDOW_S = 2.0
WINDOW = int(WINDOW_S * SAMPLE_RATE)
DEFAULT_HOP_S = 0.5


def window_starts(n_samples: int, hop: int, window: int = WINDOW) -> list[int]:
    """Start offsets of the windows covering `n_samples` (negative start = centred padding)."""
    if n_samples <= window:
        return [-((window - n_samples) // 2)]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] != n_samples - window:
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
