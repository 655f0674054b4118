"""Where audio comes from: microphone, file (real-time or as fast as possible), raw PCM on stdin.

Every source has the same face: `streams` (their ids), `start()`, `read()` -> one 16 kHz mono
float32 chunk per stream (possibly empty) or None once the source has ended, `stop()`, and
`overruns`. A stereo source can be split into one stream per channel (agent / customer).
Conversion to the internal format happens here, once, on the engine thread; the microphone
callback only copies into a preallocated ring buffer.
"""
from __future__ import annotations

import io
import struct
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np

from .io import SAMPLE_RATE, check_finite, decode_error, open_sound_file
from .ringbuffer import RingBuffer


class SourceError(Exception):
    """A source that cannot be opened; one line naming the device or file."""


class Converter:
    """(frames, channels) at any rate -> one 16 kHz mono chunk per output stream, streaming."""

    def __init__(self, rate: int, channels: int, split: bool) -> None:
        import soxr

        self.split = split and channels > 1
        self.channels = channels
        n_out = channels if self.split else 1
        self._rs = [soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
                    if rate != SAMPLE_RATE else None for _ in range(n_out)]

    def __call__(self, block: np.ndarray, last: bool = False) -> list[np.ndarray]:
        cols = ([block[:, c] for c in range(self.channels)] if self.split
                else [block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]])
        return [np.ascontiguousarray(c, dtype=np.float32) if rs is None
                else rs.resample_chunk(np.ascontiguousarray(c, dtype=np.float32), last=last)
                for rs, c in zip(self._rs, cols)]


def stream_names(base: str, channels: int, split: bool,
                 names: Sequence[str] | None = None) -> list[str]:
    """Stream ids: `names` if given (one per stream, e.g. agent, customer), else `base`, or
    `base:ch0`, `base:ch1`... when channels are split."""
    default = [f"{base}:ch{c}" for c in range(channels)] if split and channels > 1 else [base]
    if names:
        if len(names) != len(default):
            raise SourceError(f"--stream-names: {len(names)} name(s) given for {len(default)} stream(s)")
        return list(names)
    return default


class FileSource:
    """An audio file, decoded block by block; `realtime` paces it like a live capture."""

    def __init__(self, path: str | Path, realtime: bool = False, split: bool = False,
                 block_s: float = 0.02, name: str | None = None,
                 names: Sequence[str] | None = None) -> None:
        self.path = Path(path)
        self._file = open_sound_file(self.path)
        self.rate, self.channels = self._file.samplerate, self._file.channels
        self.realtime = realtime
        self.block = max(1, int(block_s * self.rate)) if realtime else self.rate  # 1 s when fast
        self.streams = stream_names(name or self.path.name, self.channels, split, names)
        self._convert = Converter(self.rate, self.channels, split)
        self.overruns = 0
        self.error: str | None = None
        self._t0: float | None = None
        self._sent = 0

    def start(self) -> None:
        self._t0 = time.monotonic()

    def read(self) -> list[np.ndarray] | None:
        if self._file.closed:
            return None
        want = self.block
        if self.realtime:
            due = int((time.monotonic() - (self._t0 or time.monotonic())) * self.rate)
            want = due - self._sent
            if want < self.block:
                return [np.zeros(0, np.float32) for _ in self.streams]
        try:
            data = self._file.read(want, dtype="float32", always_2d=True)
        except Exception as exc:
            raise decode_error(self.path, exc, "decoding failed mid-file") from None
        check_finite(self.path, data, self.rate, self._sent)
        self._sent += len(data)
        last = len(data) < want
        out = self._convert(data, last=last)
        if last:
            self._file.close()
        return out

    def stop(self) -> None:
        if not self._file.closed:
            self._file.close()


#: raw sample encodings `--input -` reads: bytes per sample, the WAV format tag and bits that
#: describe it in a header, and libsndfile's subtype that decodes it (None: 16-bit PCM, numpy)
ENCODINGS: dict[str, tuple[int, int, int, str | None]] = {
    "s16le": (2, 1, 16, None),
    "mulaw": (1, 7, 8, "ULAW"),   # G.711 mu-law: North American and Japanese phone lines
    "alaw": (1, 6, 8, "ALAW"),    # G.711 A-law: the rest of the world's
}


class StdinSource:
    """Raw audio on a pipe (telephony bridges, `ffmpeg -f s16le -`): little-endian 16-bit PCM,
    or the G.711 mu-law or A-law bytes phone systems carry (`encoding`).

    A WAV file piped in (`cat call.wav |`, `sox ... -t wav -`) starts with a RIFF header: it is
    skipped when it describes the stream the options say (encoding, `rate`, `channels`) and
    refused in one line naming the options that fit it otherwise, never played as audio.
    """

    def __init__(self, rate: int = SAMPLE_RATE, channels: int = 1, split: bool = False,
                 stream: BinaryIO | None = None, name: str = "stdin",
                 names: Sequence[str] | None = None, encoding: str = "s16le") -> None:
        if encoding not in ENCODINGS:
            raise SourceError(f"--encoding {encoding}: expected one of {', '.join(ENCODINGS)}")
        self.rate, self.channels, self.encoding = rate, channels, encoding
        self.streams = stream_names(name, channels, split, names)
        self._convert = Converter(rate, channels, split)
        self._in = stream if stream is not None else sys.stdin.buffer
        self.ring = RingBuffer(rate * 30, channels)
        self.overruns = 0
        self.error: str | None = None
        self._done = threading.Event()
        self._flushed = False
        self._fatal: SourceError | None = None
        self._thread = threading.Thread(target=self._pump, name="stdin-reader", daemon=True)

    def _read_exact(self, n: int) -> bytes:
        """`n` bytes, fewer only at the end of the stream (a pipe may deliver them in pieces)."""
        parts, got = [], 0
        while got < n and (part := self._in.read(n - got)):
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def _skip_wav_header(self) -> bytes:
        """Read past a WAV header if the stream has one; returns bytes read ahead that are audio.

        Parsed here rather than by the standard library's `wave`, which (before Python 3.12)
        refuses WAVE_FORMAT_EXTENSIBLE, the header sox writes for 16-bit PCM of 3+ channels,
        and cannot name the options a refused stream would need.
        """
        head = self._read_exact(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return head
        fmt = b""
        while (chunk := self._read_exact(8))[:4] != b"data":
            if len(chunk) < 8:
                raise SourceError("stdin: the WAV header ends before its data")
            size = int.from_bytes(chunk[4:], "little")
            body = self._read_exact(size + (size & 1))  # chunks are padded to even sizes
            if chunk[:4] == b"fmt ":
                fmt = body
        if len(fmt) < 16:
            raise SourceError("stdin: a WAV stream without a format chunk")
        tag, channels, rate = struct.unpack_from("<HHI", fmt)
        bits = struct.unpack_from("<H", fmt, 14)[0]
        if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's tag
            tag = struct.unpack_from("<H", fmt, 24)[0]
        if (tag, bits) != ENCODINGS[self.encoding][1:3]:
            fits = next((e for e, (_, t, b, _) in ENCODINGS.items() if (t, b) == (tag, bits)), None)
            if fits is not None:
                raise SourceError(f"stdin: a WAV stream of {fits} samples: run with --encoding {fits}")
            kind = f"{bits}-bit {'float' if tag == 3 else 'PCM' if tag == 1 else f'format {tag}'}"
            raise SourceError(f"stdin: a WAV stream of {kind} samples; --input - reads 16-bit PCM, "
                              f"mu-law or A-law (give the file as --input FILE, or convert: "
                              f"ffmpeg ... -f s16le -)")
        if (rate, channels) != (self.rate, self.channels):
            raise SourceError(f"stdin: a WAV stream at {rate} Hz with {channels} channel(s), not "
                              f"{self.rate} Hz with {self.channels}: run with --rate {rate} "
                              f"--channels {channels}")
        return b""

    def _pump(self) -> None:
        try:
            self._copy(self._skip_wav_header())
        except SourceError as exc:  # said by read(), on the engine's thread
            self._fatal = exc
        finally:
            self._done.set()  # after `_fatal`: a reader that sees the end sees the error too

    def _decode(self, raw: bytes) -> np.ndarray:
        """Whole frames of the stream's encoding -> (frames, channels) float32 in [-1, 1]."""
        subtype = ENCODINGS[self.encoding][3]
        if subtype is None:
            return np.frombuffer(raw, dtype="<i2").reshape(-1, self.channels).astype(np.float32) / 32768.0
        import soundfile as sf

        return sf.read(io.BytesIO(raw), samplerate=self.rate, channels=self.channels, format="RAW",
                       subtype=subtype, dtype="float32", always_2d=True)[0]

    def _copy(self, rest: bytes) -> None:
        frame_bytes = ENCODINGS[self.encoding][0] * self.channels
        while True:
            chunk = self._in.read1(frame_bytes * 1600) if hasattr(self._in, "read1") else \
                self._in.read(frame_bytes * 1600)
            if not chunk:
                break
            chunk = rest + chunk
            usable = len(chunk) - len(chunk) % frame_bytes
            rest = chunk[usable:]
            if not usable:
                continue
            audio = self._decode(chunk[:usable])
            while not self.ring.write(audio):
                time.sleep(0.005)  # a pipe can wait; nothing is dropped

    def start(self) -> None:
        self._thread.start()

    def read(self) -> list[np.ndarray] | None:
        if self._flushed:
            return None
        finished = self._done.is_set()  # before the read: then the ring holds everything
        if self._fatal is not None:
            raise self._fatal
        data = self.ring.read()
        if finished:  # the last call: flush the resampler's tail too
            self._flushed = True
        return self._convert(data, last=finished)

    def stop(self) -> None:
        self._done.set()


class MicSource:
    """A sounddevice input stream; the callback only copies into the ring buffer.

    If the device vanishes mid-call the stream is reported (`error`) and reopened every
    `retry_s` seconds until it is back or the source is stopped.
    """

    def __init__(self, device: str | int | None = None, channels: int = 1, split: bool = False,
                 rate: int | None = None, ring_s: float = 20.0, retry_s: float = 2.0,
                 name: str = "mic", names: Sequence[str] | None = None) -> None:
        import sounddevice as sd

        self._sd = sd
        try:
            info = sd.query_devices(device, "input")
        except (ValueError, sd.PortAudioError) as exc:
            raise SourceError(f"input device {device!r}: {exc} "
                              "(`ser-live devices` lists the inputs)") from None
        self.device = info["index"] if device is None else device
        self.device_name = info["name"]
        self.rate = int(rate or info["default_samplerate"])
        self.channels = channels
        self.streams = stream_names(name, channels, split, names)
        self._convert = Converter(self.rate, channels, split)
        self.ring = RingBuffer(int(ring_s * self.rate), channels)
        self.retry_s = retry_s
        self.input_overflows = 0
        self.error: str | None = None
        self._stream = None
        self._stopped = False
        self._next_retry = 0.0

    @property
    def overruns(self) -> int:
        return self.ring.overruns + self.input_overflows

    def _callback(self, indata, frames, time_info, status) -> None:  # audio thread: copy only
        if status.input_overflow:
            self.input_overflows += 1
        self.ring.write(indata)

    def _open(self) -> None:
        sd = self._sd
        self._stream = sd.InputStream(device=self.device, channels=self.channels,
                                      samplerate=self.rate, dtype="float32",
                                      callback=self._callback, latency="low")
        self._stream.start()
        self.error = None

    def start(self) -> None:
        try:
            self._open()
        except self._sd.PortAudioError as exc:
            raise SourceError(f"input device {self.device!r} ({self.device_name}): {exc}") from None

    def read(self) -> list[np.ndarray] | None:
        if self._stopped:
            return None
        stream = self._stream
        if stream is None or not stream.active:
            self._retry()
        return self._convert(self.ring.read())

    def _retry(self) -> None:
        now = time.monotonic()
        if self.error is None:
            self.error = f"input device {self.device_name!r} stopped delivering audio; retrying"
            print(f"warning: {self.error}", file=sys.stderr)
        if now < self._next_retry:
            return
        self._next_retry = now + self.retry_s
        try:
            if self._stream is not None:
                self._stream.close(ignore_errors=True)
            sd = self._sd
            sd._terminate()
            sd._initialize()
            self._open()
            print(f"input device {self.device_name!r} is back", file=sys.stderr)
        except Exception:  # still gone: keep reporting, try again later
            self._stream = None

    def stop(self) -> None:
        self._stopped = True
        if self._stream is not None:
            self._stream.close(ignore_errors=True)
