"""Shared pieces of the benchmarks: synthetic speech recordings, timing and process figures.

Test audio is synthesised here with espeak-ng (speech) and sox (resampling to 16 kHz mono),
then assembled with numpy into recordings of any length: utterances of several voices and
speaking styles, pauses of a chosen range between them, and a low pink-ish background noise.
Everything is cached under $SER_LIVE_BENCH_CACHE (default ~/.cache/ser-live/bench), never in
the repository, so a second run skips the synthesis.

Figures the benchmarks share:
- `rss_mb()` / `hwm_mb()`: VmRSS / VmHWM of this process from /proc/self/status;
- `thread_cpu_s(tid)`: CPU seconds of one thread (engine, classifier) from /proc;
- `StampBus`: an EventBus that notes the monotonic time each message is published, so a
  benchmark sees when events and status messages really leave the engine.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere: import the checkout
    sys.path.insert(0, str(ROOT))

from ser_live.bus import EventBus  # noqa: E402

SAMPLE_RATE = 16_000
DEFAULT_MODEL = ROOT / "models"
POOL_VERSION = 1

# (espeak voice, pitch 0..99, speed words/min, amplitude) -- speakers and speaking styles
VOICES = [("en+m3", 45, 160, 100), ("en+f3", 55, 170, 100), ("en-us", 50, 175, 110),
          ("en+m7", 70, 215, 170), ("en+f2", 80, 225, 180), ("en-gb-scotland", 20, 110, 70),
          ("en+f4", 30, 120, 80), ("en-us+m2", 60, 190, 130)]
TEXTS = [
    "Thank you for calling. My name is Anna. How can I help you today?",
    "I ordered a washing machine two weeks ago, and I wanted to check when it will arrive.",
    "Let me look that up for you. One moment please, the system is a little slow this morning.",
    "I have been waiting for two weeks and nobody called me, nobody wrote, this is unacceptable!",
    "I took a day off work for the delivery and nobody came. I want my money back right now.",
    "I am very sorry about that. I can see the order here, and I can see what went wrong.",
    "I just needed it for my mother. She is ill, and everything is so hard at the moment.",
    "I will arrange a delivery for tomorrow morning, free of charge, between eight and ten.",
    "Oh, that is wonderful! Thank you so much, that is really great news.",
    "Is there anything else I can do for you today? We are open until eight in the evening.",
    "Could you please confirm your address and the phone number we should call before we come?",
    "The weather was different when we left the house, and the train had not arrived yet.",
]


def cache_dir() -> Path:
    d = Path(os.environ.get("SER_LIVE_BENCH_CACHE", Path.home() / ".cache" / "ser-live" / "bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _synth(text: str, voice: str, pitch: int, speed: int, amp: int, tmp: Path) -> np.ndarray:
    import soundfile as sf

    raw, wav = tmp / "raw.wav", tmp / "u.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", str(amp),
                    "-w", str(raw), text], check=True, capture_output=True, timeout=60)
    subprocess.run(["sox", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(wav)],
                   check=True, capture_output=True, timeout=60)
    x, _ = sf.read(str(wav), dtype="float32")
    idx = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())  # trim espeak's silent edges
    return x[idx[0]:idx[-1] + 1]


def speech_pool() -> list[np.ndarray]:
    """Utterances (16 kHz mono float32, peak-normalised), synthesised once and cached."""
    path = cache_dir() / f"pool-v{POOL_VERSION}.npz"
    if path.is_file():
        z = np.load(path)
        return [z[k] for k in sorted(z.files)]
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install espeak-ng sox)")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(TEXTS):
            for j in range(2):  # two voices per text
                voice, pitch, speed, amp = VOICES[(i + 3 * j) % len(VOICES)]
                x = _synth(text, voice, pitch, speed, amp, Path(tmp))
                out.append((x / max(1e-6, float(np.abs(x).max()))).astype(np.float32))
    np.savez(path, **{f"u{i:03d}": x for i, x in enumerate(out)})
    return out


def make_recording(seconds: float, seed: int = 0, pauses: tuple[float, float] = (0.3, 2.0),
                   noise_db: float = -45.0) -> np.ndarray:
    """`seconds` of speech: pool utterances at random levels, pauses uniform in `pauses` s,
    pink-ish noise at `noise_db` dBFS RMS over everything."""
    rng = np.random.default_rng(seed)
    pool = speech_pool()
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n, np.float32)
    pos = int(rng.uniform(0.2, 0.8) * SAMPLE_RATE)
    while pos < n:
        u = pool[rng.integers(len(pool))] * rng.uniform(0.15, 0.5)
        k = min(len(u), n - pos)
        out[pos:pos + k] = u[:k]
        pos += k + int(rng.uniform(*pauses) * SAMPLE_RATE)
    from scipy.signal import lfilter  # scipy comes with librosa

    # white noise through a one-pole low-pass: more energy low, like room or line noise
    pink = lfilter([1.0], [1.0, -0.95], rng.standard_normal(n)).astype(np.float32)
    pink *= 10 ** (noise_db / 20) / max(1e-9, float(np.sqrt(np.mean(pink ** 2))))
    return np.clip(out + pink, -1.0, 1.0)


def recording_file(tag: str, seconds: float, seed: int = 0,
                   pauses: tuple[float, float] = (0.3, 2.0), noise_db: float = -45.0) -> Path:
    """A cached 16-bit WAV of `make_recording(...)`; made on first use."""
    import soundfile as sf

    key = hashlib.sha1(json.dumps([POOL_VERSION, seconds, seed, pauses, noise_db]).encode()).hexdigest()[:10]
    path = cache_dir() / f"{tag}-{int(seconds)}s-{key}.wav"
    if not path.is_file():
        x = make_recording(seconds, seed, pauses, noise_db)
        tmp = path.with_suffix(".part.wav")
        sf.write(str(tmp), x, SAMPLE_RATE, subtype="PCM_16")
        tmp.replace(path)
    return path


def speech_share(path: Path) -> float:
    """Fraction of the recording inside utterances as the live SpeechGate finds them."""
    import soundfile as sf

    from ser_live.vad import SpeechGate, SpeechPiece

    x, _ = sf.read(str(path), dtype="float32")
    gate = SpeechGate()
    segments = gate.push(x).segments + gate.flush().segments
    return sum(len(s.audio) for s in segments if isinstance(s, SpeechPiece)) / max(len(x), 1)


# ---- process figures ---------------------------------------------------------------------
def _status_kb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return float("nan")


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024.0


def hwm_mb() -> float:
    return _status_kb("VmHWM") / 1024.0


_TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu_s(tid: int | None) -> float | None:
    """user + system CPU seconds of one thread of this process (None if it is gone)."""
    if tid is None:
        return None
    try:
        with open(f"/proc/self/task/{tid}/stat") as fh:
            rest = fh.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / _TICK
    except OSError:
        return None


def system_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot; difference two calls for a share."""
    with open("/proc/stat") as fh:
        vals = [int(v) for v in fh.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return float(sum(vals) - idle), float(sum(vals))


def machine_line() -> str:
    import torch

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"cpus: {os.cpu_count()}  torch threads: {torch.get_num_threads()}  "
            f"load average before: {load}")


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def load_classifier(model: str | Path, threads: int | None, precision: str = "auto"):
    """The product's Classifier on CPU; exits with a hint when the folder has no model."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    from ser_live.model.runtime import Classifier, ModelError

    try:
        return Classifier(model, device="cpu", precision=precision)
    except ModelError as exc:
        sys.exit(f"{exc}\n(no shipped model yet? export one: "
                 f".venv/bin/ser-live export CHECKPOINT --out /tmp/benchmodel; then --model /tmp/benchmodel)")


def model_call_ms(clf, windows: np.ndarray, repeats: int, warmup: int = 5,
                  gap_s: float = 0.0) -> list[float]:
    """Bare `predict_windows` time of one window (batch 1), ms per call; `gap_s` of idle
    between calls spaces them like live windows (torch's pool threads go idle in between)."""
    for i in range(warmup):
        clf.predict_windows(windows[i % len(windows)][None])
    out = []
    for i in range(repeats):
        if gap_s:
            time.sleep(gap_s)
        w = windows[i % len(windows)][None]
        t = time.perf_counter()
        clf.predict_windows(w)
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def in_thread(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` run on a fresh thread, as the engine's classifier worker calls
    the model (on a loaded 2-core machine, main-thread torch calls timed differently)."""
    box: dict = {}

    def run() -> None:
        box["out"] = fn(*args, **kwargs)

    t = threading.Thread(target=run, name="bench-baseline")
    t.start()
    t.join()
    return box["out"]


def sample_windows(path: Path, n: int = 16) -> np.ndarray:
    """`n` 2 s windows cut from a recording, for the bare model timings."""
    import soundfile as sf

    x, _ = sf.read(str(path), dtype="float32", frames=n * 2 * SAMPLE_RATE + SAMPLE_RATE)
    starts = np.linspace(0, len(x) - 2 * SAMPLE_RATE, n).astype(int)
    return np.stack([x[s:s + 2 * SAMPLE_RATE] for s in starts]).astype(np.float32)


# ---- engine helpers ------------------------------------------------------------------------
class StampBus(EventBus):
    """An EventBus that also keeps (monotonic time, message) of every event and status."""

    def __init__(self, keep_status: bool = True) -> None:
        super().__init__()
        self.events: list = []
        self.statuses: list = []
        self.keep_status = keep_status

    def publish(self, msg) -> None:
        now = time.monotonic()
        if msg.type == "event":
            self.events.append((now, msg))
        elif msg.type == "status" and self.keep_status:
            self.statuses.append((now, msg))
        super().publish(msg)


class CountingClassifier:
    """The classifier, with the batch size and wall time of every model call noted."""

    def __init__(self, clf) -> None:
        self.clf, self.labels = clf, clf.labels
        self.batches: list[int] = []
        self.call_s: list[float] = []

    def predict_windows(self, windows):
        t = time.perf_counter()
        out = self.clf.predict_windows(windows)
        self.call_s.append(time.perf_counter() - t)
        self.batches.append(len(windows))
        return out


class TimedSource:
    """Wraps a real-time source: starts it `delay_s` after the engine does (staggered
    calls), and remembers when it started so lag against real time can be measured."""

    def __init__(self, inner, delay_s: float = 0.0) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.streams = list(inner.streams)
        self.t0: float | None = None
        self._engine_t0: float | None = None
        self._empty = [np.zeros(0, np.float32) for _ in self.streams]

    @property
    def overruns(self) -> int:
        return self.inner.overruns

    @property
    def error(self):
        return self.inner.error

    def start(self) -> None:
        self._engine_t0 = time.monotonic()
        if self.delay_s <= 0:
            self._start_inner()

    def _start_inner(self) -> None:
        self.inner.start()
        self.t0 = time.monotonic()

    def read(self):
        if self.t0 is None:
            if time.monotonic() - self._engine_t0 < self.delay_s:
                return self._empty
            self._start_inner()
        return self.inner.read()

    def stop(self) -> None:
        self.inner.stop()


def engine_lags_ms(bus: StampBus, sources: Sequence[TimedSource]) -> list[float]:
    """For every status message: how far the engine was behind real time, ms.

    A status with stream time t is published right after the chunk ending at t was
    processed; that audio was due at the source's start + t, so the difference is the
    backlog the engine thread carries (ring-buffer fill, for a microphone)."""
    t0 = {s: src.t0 for src in sources for s in src.streams}
    return [(stamp - t0[m.stream] - m.t) * 1000.0 for stamp, m in bus.statuses
            if t0.get(m.stream) is not None]


def write_json(path: str | None, res: object) -> None:
    if path:
        Path(path).write_text(json.dumps(res, indent=1))
        print(f"wrote {path}")


class CpuMeter:
    """Process, per-thread and whole-machine CPU over an interval.

    Thread figures come from /proc/self/task, which forgets a thread once it is joined, so
    `poll()` while they run (e.g. in the `engine.wait(0.5)` loop); the last reading counts."""

    def __init__(self, **threads: threading.Thread) -> None:
        self.wall0 = time.monotonic()
        self.proc0 = time.process_time()
        self.sys0 = system_busy()
        self._threads = threads
        self._cpu: dict[str, float] = {k: 0.0 for k in threads}
        self._t_last: dict[str, float] = {k: self.wall0 for k in threads}

    def poll(self) -> None:
        for k, t in self._threads.items():
            v = thread_cpu_s(t.native_id)
            if v is not None:
                self._cpu[k], self._t_last[k] = v, time.monotonic()

    def read(self) -> dict:
        self.poll()
        wall = time.monotonic() - self.wall0
        busy, total = system_busy()
        res = {"wall_s": wall, "process_cores": (time.process_time() - self.proc0) / wall,
               "machine_busy_pct": 100.0 * (busy - self.sys0[0]) / max(1.0, total - self.sys0[1])}
        for k in self._threads:  # over the time the thread was seen alive
            res[f"{k}_thread_pct"] = 100.0 * self._cpu[k] / max(1e-3, self._t_last[k] - self.wall0)
        return res
