"""WebRTC voice activity detection: where the speech is, offline (`trim_to_speech`) and live
(`SpeechGate`).

`trim_to_speech` cuts a recorded clip to its speech with the live gate itself, so training
clips look like the windows the live engine will feed the model (acted corpora carry up to a
second of silence around each sentence).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .audio.io import SAMPLE_RATE

def to_pcm16(audio: np.ndarray) -> bytes:
    """float32 [-1, 1] -> little-endian 16-bit PCM bytes, as webrtcvad wants them."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def speech_span(audio: np.ndarray, aggressiveness: int = 2) -> tuple[int, int] | None:
    """(first, end) sample of the span from the start of the first utterance to the end of the
    last, as the live `SpeechGate` finds them (same detector, hysteresis and padding); None
    where it hears no speech at all."""
    gate = SpeechGate(aggressiveness)
    segments = gate.push(audio).segments + gate.flush().segments
    starts = [s.start for s in segments if isinstance(s, SpeechPiece)]
    ends = [s.end for s in segments if isinstance(s, SpeechEnd)]
    return (starts[0], ends[-1]) if starts and ends else None


def trim_to_speech(audio: np.ndarray, aggressiveness: int = 2) -> np.ndarray:
    """`audio` cut to its `speech_span`.

    A clip in which the gate hears no speech at all is returned whole: better a window of
    doubtful audio than a silently dropped training or test clip.
    """
    span = speech_span(audio, aggressiveness)
    return audio if span is None else audio[span[0]:span[1]]


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

    An utterance starts when `onset_ratio` of the frames in the last `onset_ms` are voiced, and its audio
    begins `pre_roll_ms` before the first of them, so onsets are not clipped. It ends after
    `hangover_ms` without a voiced frame, so the pauses between words and phrases do not cut
    it; its audio runs `post_pad_ms` past the last voiced frame. Unvoiced frames inside an
    utterance are held back until voice resumes (then sent) or the hangover runs out (then cut
    at the post-pad), so the pieces of an utterance are exactly the audio from its start to
    its `SpeechEnd` and windows never reach into the silence after it. One gate per stream:
    webrtcvad keeps state between calls; `reset` starts over.
    """

    def __init__(self, aggressiveness: int = 2, frame_ms: int = 30, onset_ms: int = 240,
                 onset_ratio: float = 0.75, hangover_ms: int = 450, pre_roll_ms: int = 240,
                 post_pad_ms: int = 150) -> None:
        import webrtcvad

        if frame_ms not in (10, 20, 30):
            raise ValueError("webrtcvad frames are 10, 20 or 30 ms")
        if not 0 <= aggressiveness <= 3:
            raise ValueError("VAD aggressiveness is 0..3")
        self._vad = webrtcvad.Vad(aggressiveness)
        self.frame = SAMPLE_RATE * frame_ms // 1000
        self.ring = max(1, onset_ms // frame_ms)
        self.trigger = max(1, int(np.ceil(onset_ratio * self.ring)))
        self.hangover = SAMPLE_RATE * hangover_ms // 1000
        self.pre_roll = SAMPLE_RATE * pre_roll_ms // 1000
        self.post_pad = SAMPLE_RATE * post_pad_ms // 1000
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self._pos = 0                      # stream index of the first pending sample
        self._flags: deque[bool] = deque(maxlen=self.ring)  # last `ring` frame decisions
        # recent frames while no utterance is open, for the pre-roll
        self._history: deque[np.ndarray] = deque(maxlen=self.ring + -(-self.pre_roll // self.frame))
        self._held: list[np.ndarray] = []  # unvoiced frames of an open utterance, not yet sent
        self._held_start = 0
        self.triggered = False
        self._last_voiced_end = 0

    def push(self, audio: np.ndarray) -> GateOutput:
        """Feed 16 kHz mono float32 of any length; returns the speech found so far."""
        out = GateOutput()
        if len(audio):
            rms = float(np.sqrt(np.dot(audio, audio) / len(audio)))
            out.level_db = 20.0 * np.log10(max(rms, 1e-6))
        buf = np.concatenate([self._pending, audio]) if len(self._pending) else audio
        n = len(buf) // self.frame
        pcm = to_pcm16(buf[:n * self.frame])  # one conversion per push, not per frame
        step = 2 * self.frame
        for i in range(n):
            self._step(buf[i * self.frame:(i + 1) * self.frame], pcm[i * step:(i + 1) * step],
                       self._pos + i * self.frame, out)
        self._pending = buf[n * self.frame:].copy()
        self._pos += n * self.frame
        out.speech = self.triggered
        out.segments = _merge_pieces(out.segments)
        return out

    def _step(self, frame: np.ndarray, pcm: bytes, start: int, out: GateOutput) -> None:
        voiced = self._vad.is_speech(pcm, SAMPLE_RATE)
        self._flags.append(voiced)
        end = start + self.frame
        if voiced:
            self._last_voiced_end = end
        if not self.triggered:
            self._history.append(frame)
            if sum(self._flags) >= self.trigger:
                self.triggered = True
                flags = list(self._flags)
                first_voiced = end - self.frame * (len(flags) - flags.index(True))
                history = np.concatenate(self._history)
                begin = max(first_voiced - self.pre_roll, end - len(history))
                out.segments.append(SpeechPiece(begin, history[len(history) - (end - begin):]))
                self._history.clear()
        elif voiced:
            self._release(out)
            out.segments.append(SpeechPiece(start, frame.copy()))
        else:
            if not self._held:
                self._held_start = start
            self._held.append(frame.copy())
            if end - self._last_voiced_end >= self.hangover:
                self.triggered = False
                stop = min(end, self._last_voiced_end + self.post_pad)
                self._release(out, stop)
                out.segments.append(SpeechEnd(stop))
                self._flags.clear()

    def _release(self, out: GateOutput, stop: int | None = None) -> None:
        """Send the held frames (up to stream index `stop`, all by default)."""
        if not self._held:
            return
        audio = np.concatenate(self._held)
        if stop is not None:
            audio = audio[:max(0, stop - self._held_start)]
        if len(audio):
            out.segments.append(SpeechPiece(self._held_start, audio))
        self._held = []

    def flush(self) -> GateOutput:
        """End of stream: close an open utterance."""
        out = GateOutput(speech=False)
        if self.triggered:
            self.triggered = False
            stop = min(self._pos, self._last_voiced_end + self.post_pad)
            self._release(out, stop)
            out.segments.append(SpeechEnd(stop))
        return out


def _merge_pieces(segments: list[SpeechPiece | SpeechEnd]) -> list[SpeechPiece | SpeechEnd]:
    """Join runs of contiguous pieces, so a long push hands on a few arrays, not one per frame."""
    out: list[SpeechPiece | SpeechEnd] = []
    run: list[SpeechPiece] = []

    def close_run() -> None:
        if run:
            out.append(SpeechPiece(run[0].start, np.concatenate([p.audio for p in run])
                                   if len(run) > 1 else run[0].audio))
            run.clear()

    for seg in segments:
        if isinstance(seg, SpeechPiece) and (not run or run[-1].start + len(run[-1].audio) == seg.start):
            run.append(seg)
        else:
            close_run()
            if isinstance(seg, SpeechPiece):
                run.append(seg)
            else:
                out.append(seg)
    close_run()
    return out
