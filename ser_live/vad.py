"""WebRTC voice activity detection: where the speech is.

`trim_to_speech` cuts a recorded clip to its speech with the same detector and padding as the
live gate, so training clips look like the windows the live engine will feed the model
(acted corpora carry up to a second of silence around each sentence).
"""
from __future__ import annotations

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
