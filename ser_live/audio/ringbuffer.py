"""A preallocated single-producer / single-consumer ring buffer for the capture callback.

The audio callback must never block or allocate: `write` copies the block into memory that
exists from the start and moves one index. If the consumer has fallen so far behind that the
block does not fit, the block is dropped and counted as an overrun; the reader's data is never
overwritten under its feet. Each index is written by one side only, so no lock is needed
(a Python int assignment is atomic under the GIL).
"""
from __future__ import annotations

import numpy as np


class RingBuffer:
    """Frames of shape (capacity, channels) float32; `write` from one thread, `read` from one other."""

    def __init__(self, capacity: int, channels: int = 1) -> None:
        self._buf = np.zeros((capacity, channels), dtype=np.float32)
        self.capacity = capacity
        self.channels = channels
        self._written = 0  # total frames ever written (producer-owned)
        self._read = 0     # total frames ever read (consumer-owned)
        self.overruns = 0
        self.dropped_frames = 0

    @property
    def available(self) -> int:
        """Frames waiting to be read."""
        return self._written - self._read

    def write(self, block: np.ndarray) -> bool:
        """Copy `block` (frames, channels) in; False (and an overrun counted) if it does not fit."""
        n = block.shape[0]
        if n > self.capacity - (self._written - self._read):
            self.overruns += 1
            self.dropped_frames += n
            return False
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start:start + first] = block[:first]
        if first < n:
            self._buf[:n - first] = block[first:]
        self._written += n
        return True

    def read(self, max_frames: int | None = None) -> np.ndarray:
        """A copy of up to `max_frames` waiting frames (all of them by default), oldest first."""
        n = self._written - self._read
        if max_frames is not None:
            n = min(n, max_frames)
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        out = np.empty((n, self.channels), dtype=np.float32)
        out[:first] = self._buf[start:start + first]
        if first < n:
            out[first:] = self._buf[:n - first]
        self._read += n
        return out
