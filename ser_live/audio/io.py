"""Decode any supported audio file into the one internal format: 16 kHz mono float32.

libsndfile (through soundfile) reads WAV, FLAC, Ogg Vorbis/Opus and MP3; soxr does the
resampling (a well-kept, band-limited resampler, not a hand-written one). Conversion happens
once, here, so nothing downstream ever sees another rate or channel count.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # soundfile loads libsndfile: imported when a file is opened
    import soundfile

SAMPLE_RATE = 16_000

#: File endings treated as audio when a directory is given.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3", ".oga", ".aiff", ".aif"})


class AudioLoadError(Exception):
    """A file that cannot be decoded; the message is one line naming the file."""


def to_internal(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Downmix (frames, channels) or (frames,) audio to mono and resample it to 16 kHz float32."""
    import soxr

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        x = soxr.resample(x, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(x)


def _error(path: Path, why: str) -> AudioLoadError:
    """The error for `path`; line breaks and other control characters in the name are escaped,
    so the message stays one line (non-ASCII letters are kept as they are)."""
    name = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))
    return AudioLoadError(f"{name}: {why}")


def decode_error(path: str | Path, exc: BaseException,
                 what: str = "cannot decode audio") -> AudioLoadError:
    """libsndfile's complaint about `path` as a one-line AudioLoadError."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return _error(Path(path), f"{what} ({reason})")


def check_finite(path: str | Path, data: np.ndarray, rate: int, offset: int = 0) -> None:
    """Raise AudioLoadError naming `path` and the time of its first NaN or infinite sample.

    Float WAV/FLAC can hold them; one would turn a whole window's probabilities into NaN, which
    is not even valid JSON for the event feed. `offset` is the frame index `data` starts at.
    """
    finite = np.isfinite(data)
    if not finite.all():
        first = int(np.flatnonzero(~finite.reshape(len(data), -1).all(axis=1))[0])
        raise _error(Path(path), "audio contains NaN or infinite samples "
                                 f"(the first at {(offset + first) / rate:.2f} s)")


def open_sound_file(path: str | Path) -> soundfile.SoundFile:
    """Open `path` for decoding, or raise AudioLoadError naming the file and why.

    The one set of checks for whole-file loads and block-by-block sources alike.
    """
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise _error(p, "no such file")
    if not p.is_file():  # a folder, a device such as /dev/null, a pipe
        raise _error(p, "not a regular file")
    if p.stat().st_size == 0:
        raise _error(p, "empty file (0 bytes)")
    try:
        return sf.SoundFile(str(p))
    except Exception as exc:  # libsndfile raises several types; all mean "not decodable"
        raise decode_error(p, exc) from None


#: frames per read where a file must be read block by block
READ_BLOCK = 1 << 16


def read_all(f: soundfile.SoundFile) -> np.ndarray:
    """Every frame of an open file as (frames, channels) float32. The telephony codecs in WAV
    (GSM 6.10, G.721 ADPCM, NMS ADPCM) are not seekable, and libsndfile reads those only a
    given number of frames at a time: a whole-file read failed on every call recorder's GSM."""
    if f.seekable():
        return f.read(dtype="float32", always_2d=True)
    blocks = []
    while len(block := f.read(READ_BLOCK, dtype="float32", always_2d=True)):
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.zeros((0, f.channels), np.float32)


def load_audio(path: str | Path) -> np.ndarray:
    """Read `path` as 16 kHz mono float32, or raise AudioLoadError naming the file and why."""
    p = Path(path)
    with open_sound_file(p) as f:
        try:
            data, rate = read_all(f), f.samplerate
        except Exception as exc:
            raise decode_error(p, exc) from None
    if data.shape[0] == 0:
        raise _error(p, "no audio frames")
    check_finite(p, data, rate)
    return to_internal(data, rate)
