"""WebRTC voice activity detection: where the speech is, offline (`trim_to_speech`) and live
(`SpeechGate`).

`trim_to_speech` cuts a recorded clip to its speech with the same detector and padding as the
live gate, so training clips look like the windows the live engine will feed the model
(acted corpora carry up to a second of silence around each sentence).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .audio.io import SAMPLE_RATE

FRAME_MS = 30
FRAME = SAMPLE_RATE * FRAME_MS // 1000


def to_pcm16(audio: np.ndarray) -> bytes:
    """float32 [-1, 1] -> little-endian 16-bit PCM bytes, as webrtcvad wants them."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def speech_flags(audio: np.ndarray, aggressiveness: int = 2) -> np.ndarray:
    """One boolean per 30 ms frame: does webrtcvad hear speech in it?"""
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    n = len(audio) // FRAME
    pcm = to_pcm16(audio[: n * FRAME])
    step = FRAME * 2
    return np.array([vad.is_speech(pcm[i * step:(i + 1) * step], SAMPLE_RATE) for i in range(n)],
                    dtype=bool)


def trim_to_speech(audio: np.ndarray, aggressiveness: int = 2, pad_s: float = 0.2) -> np.ndarray:
    """`audio` from its first to its last speech frame, `pad_s` of margin each side.

    A clip in which the detector hears no speech at all is returned whole: better a window of
    doubtful audio than a silently dropped clip.
    """
    flags = speech_flags(audio, aggressiveness)
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return audio
    pad = int(pad_s * SAMPLE_RATE)
    lo = max(0, idx[0] * FRAME - pad)
    hi = min(len(audio), (idx[-1] + 1) * FRAME + pad)
    return audio[lo:hi]


@dataclass
class SpeechPiece:
    """Speech audio whose first sample has stream index `start` (pre-roll included)."""

    start: int
    audio: np.ndarray


@dataclass
class SpeechEnd:
    """An utterance ended at stream index `end` (last voiced frame plus the trailing pad)."""

    end: int


@dataclass
class GateOutput:
    """What one `SpeechGate.push` found, in stream order, and the state after it."""

    segments: list[SpeechPiece | SpeechEnd] = field(default_factory=list)
    speech: bool = False
    level_db: float = -120.0


class SpeechGate:
    """Streaming speech gate over webrtcvad frames, with hysteresis and padding.

    An utterance starts when `trigger` of the last `ring` frames are voiced, and its audio
    begins `pre_roll_ms` before the first of them, so onsets are not clipped. It ends after
    `hangover_ms` without a voiced frame, so the pauses between words and phrases do not cut
    it; its audio runs `post_pad_ms` past the last voiced frame. One gate per stream:
    webrtcvad keeps state between calls; `reset` starts over.
    """

    def __init__(self, aggressiveness: int = 2, frame_ms: int = 30, ring: int = 8,
                 trigger: int = 6, hangover_ms: int = 450, pre_roll_ms: int = 240,
                 post_pad_ms: int = 150) -> None:
        import webrtcvad

        if frame_ms not in (10, 20, 30):
            raise ValueError("webrtcvad frames are 10, 20 or 30 ms")
        if not 0 <= aggressiveness <= 3:
            raise ValueError("VAD aggressiveness is 0..3")
        self._vad = webrtcvad.Vad(aggressiveness)
        self.frame = SAMPLE_RATE * frame_ms // 1000
        self.ring, self.trigger = ring, trigger
        self.hangover = SAMPLE_RATE * hangover_ms // 1000
        self.pre_roll = SAMPLE_RATE * pre_roll_ms // 1000
        self.post_pad = SAMPLE_RATE * post_pad_ms // 1000
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self._pos = 0                      # stream index of the first pending sample
        self._flags: list[bool] = []       # last `ring` frame decisions
        self._history = np.zeros(0, dtype=np.float32)  # recent audio, for the pre-roll
        self.triggered = False
        self._last_voiced_end = 0

    def push(self, audio: np.ndarray) -> GateOutput:
        """Feed 16 kHz mono float32 of any length; returns the speech found so far."""
        out = GateOutput()
        if len(audio):
            rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
            out.level_db = 20.0 * np.log10(max(rms, 1e-6))
        buf = np.concatenate([self._pending, audio]) if len(self._pending) else audio
        n = len(buf) // self.frame
        for i in range(n):
            frame = buf[i * self.frame:(i + 1) * self.frame]
            start = self._pos + i * self.frame
            self._step(frame, start, out)
        self._pending = buf[n * self.frame:].copy()
        self._pos += n * self.frame
        out.speech = self.triggered
        return out

    def _step(self, frame: np.ndarray, start: int, out: GateOutput) -> None:
        voiced = self._vad.is_speech(to_pcm16(frame), SAMPLE_RATE)
        self._flags.append(voiced)
        if len(self._flags) > self.ring:
            self._flags.pop(0)
        end = start + self.frame
        if voiced:
            self._last_voiced_end = end
        if not self.triggered:
            self._history = np.concatenate([self._history, frame])[-(self.pre_roll + self.ring * self.frame):]
            if sum(self._flags) >= self.trigger:
                self.triggered = True
                first_voiced = end - self.frame * (len(self._flags) - self._flags.index(True))
                begin = max(first_voiced - self.pre_roll, end - len(self._history))
                out.segments.append(SpeechPiece(begin, self._history[len(self._history) - (end - begin):].copy()))
                self._history = np.zeros(0, dtype=np.float32)
        else:
            out.segments.append(SpeechPiece(start, frame.copy()))
            if end - self._last_voiced_end >= self.hangover:
                self.triggered = False
                out.segments.append(SpeechEnd(min(end, self._last_voiced_end + self.post_pad)))
                self._flags.clear()

    def flush(self) -> GateOutput:
        """End of stream: close an open utterance."""
        out = GateOutput(speech=False)
        if self.triggered:
            self.triggered = False
            out.segments.append(SpeechEnd(min(self._pos, self._last_voiced_end + self.post_pad)))
        return out
