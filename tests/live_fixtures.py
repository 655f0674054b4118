"""Fixtures and helpers for the live-engine tests (sources, engine, analyze, virtual microphone).

Import the fixtures into a test module by name (`from live_fixtures import tiny_model_dir`);
conftest.py's fixtures (`speech`, `cli`, `espeak`) are available everywhere as usual.

- `tiny_model_dir`: a real, untrained model folder written by `ser_live.train.export.export`
  from a checkpoint laid out like `ser_live.train.loop` writes them. Its predictions mean
  nothing; the tests check where and when events come, not what they say.
- `scene`: silence / speech / silence / speech / silence with the speech intervals known from
  the synthesis, as audio and as a 16 kHz WAV.
- `virtual_mic`: scripts/virtual_mic.sh in a private runtime folder; yields the environment
  that reaches it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import synth

SR = 16_000
TOL = 0.3  # documented tolerance of speech boundaries (s): pre-roll / post-pad and VAD frames
REPO = Path(__file__).resolve().parents[1]
VIRTUAL_MIC = REPO / "scripts" / "virtual_mic.sh"


# --- model ---------------------------------------------------------------------------------

def write_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """An untrained EmotionNet exported exactly as a trained one would be."""
    import contextlib
    import io

    import torch

    from ser_live.labels import LABELS
    from ser_live.model.net import EmotionNet, NetConfig
    from ser_live.train.augment import AugmentConfig
    from ser_live.train.export import export

    torch.manual_seed(seed)
    cfg = NetConfig(n_classes=len(LABELS))
    net = EmotionNet(cfg).eval()
    from dataclasses import asdict

    ckpt = {"model": net.state_dict(), "epoch": 1, "val": {"ua": 0.125, "wa": 0.125, "loss": 2.08},
            "labels": list(LABELS), "net": cfg.to_dict(), "seed": seed,
            "augment": asdict(AugmentConfig()), "train_speakers": ["synth-a", "synth-b"],
            "val_speakers": ["synth-c"], "n_train": 2, "n_val": 1, "corpora": ["synth"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir.parent / f"{out_dir.name}-best.pt"
    torch.save(ckpt, ckpt_path)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's own deprecation notes
        export(ckpt_path, out_dir, command="tests/live_fixtures.py")
    meta = json.loads((out_dir / "model.json").read_text())
    assert meta["name"] and meta["labels"] == list(LABELS)
    return out_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.fixture(scope="session")
def classifier(tiny_model_dir: Path):
    from ser_live.model.runtime import Classifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return Classifier(tiny_model_dir, device="cpu")


# --- synthetic scenes --------------------------------------------------------------------

def utterance(text: str, voice: str = "en-us", peak: float = 0.5, **prosody) -> np.ndarray:
    """espeak-ng `text`, cut to its audible extent, scaled to `peak`."""
    x = synth.synth(text, voice, **prosody)
    lo, hi = synth.speech_extent(x)
    x = x[lo:hi]
    return (peak * x / np.max(np.abs(x))).astype(np.float32)


@dataclass
class Scene:
    """Audio with known speech: `intervals` are (start_s, end_s) of each utterance."""

    audio: np.ndarray
    intervals: list[tuple[float, float]]
    path: Path | None = None

    @property
    def duration(self) -> float:
        return len(self.audio) / SR


def compose(parts: list[float | np.ndarray]) -> Scene:
    """Floats are seconds of digital silence, arrays are utterances (16 kHz float32)."""
    chunks, intervals, pos = [], [], 0
    for p in parts:
        if isinstance(p, np.ndarray):
            chunks.append(p.astype(np.float32))
            intervals.append((pos / SR, (pos + len(p)) / SR))
            pos += len(p)
        else:
            n = int(round(p * SR))
            chunks.append(np.zeros(n, np.float32))
            pos += n
    return Scene(np.concatenate(chunks), intervals)


def stereo_call(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Scene, Scene]:
    """Agent (left) says `a`, then the customer (right) says `b`, with a second of silence
    around each turn: (stereo (n, 2) float32, agent scene, customer scene)."""
    agent = compose([1.0, a, 1.0 + len(b) / SR + 1.0])
    customer = compose([1.0 + len(a) / SR + 1.0, b, 1.0])
    stereo = np.zeros((max(len(agent.audio), len(customer.audio)), 2), np.float32)
    stereo[:len(agent.audio), 0], stereo[:len(customer.audio), 1] = agent.audio, customer.audio
    return stereo, agent, customer


@pytest.fixture(scope="session")
def utterances(espeak) -> tuple[np.ndarray, np.ndarray]:
    """Two sentences of 2-3 s each, different voices."""
    return (utterance("Dogs are sitting by the door, and the kids are talking.", "en-us"),
            utterance("We will meet again tomorrow morning at the station.", "en+f3"))


@pytest.fixture(scope="session")
def scene(utterances, tmp_path_factory: pytest.TempPathFactory) -> Scene:
    """2 s silence, speech, 2.5 s silence, speech, 2 s silence; also written as a WAV."""
    a, b = utterances
    s = compose([2.0, a, 2.5, b, 2.0])
    s.path = synth.write_wav(tmp_path_factory.mktemp("scene") / "scene.wav", s.audio)
    return s


def overlaps(a: tuple[float, float], b: tuple[float, float], tol: float = 0.0) -> bool:
    return a[0] < b[1] + tol and b[0] < a[1] + tol


def check_events_over_speech(events: list[dict], intervals: list[tuple[float, float]]) -> None:
    """Every event lies on one utterance (within TOL of its edges); every utterance has events."""
    for e in events:
        assert e["t_end"] > e["t_start"]
        hits = [iv for iv in intervals if overlaps((e["t_start"], e["t_end"]), iv)]
        assert len(hits) == 1, f"event {e['t_start']}-{e['t_end']} s is not on one utterance of {intervals}"
        (s0, s1), = hits
        assert s0 - TOL <= e["t_start"] and e["t_end"] <= s1 + TOL, \
            f"event {e['t_start']}-{e['t_end']} s reaches beyond the speech at {s0:.2f}-{s1:.2f} s"
    for s0, s1 in intervals:
        mine = [e for e in events if overlaps((e["t_start"], e["t_end"]), (s0, s1))]
        assert mine, f"no event for the speech at {s0:.2f}-{s1:.2f} s"
        assert min(e["t_start"] for e in mine) <= s0 + 0.05      # onsets are not clipped
        assert max(e["t_end"] for e in mine) >= s1 - 0.05        # nor the ends


# --- the command line -------------------------------------------------------------------

SER_LIVE = Path(sys.executable).parent / "ser-live"


def cli_env(**extra: str) -> dict:
    """The environment for a `ser-live` subprocess: one thread, no Python warnings."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore", **extra}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def __str__(self) -> str:  # shown by failing asserts
        return (f"exit {self.returncode} after {self.seconds:.1f} s\n--- stdout\n{self.stdout[-3000:]}"
                f"\n--- stderr\n{self.stderr[-3000:]}")

    def json_lines(self) -> list[dict]:
        return [json.loads(ln) for ln in self.stdout.splitlines() if ln.strip()]


def run_cli(*args, input: bytes | None = None, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 120) -> Run:
    """Run the installed `ser-live` entry point; stdin from `input` (bytes) if given."""
    t0 = time.perf_counter()
    proc = subprocess.run([str(SER_LIVE), *map(str, args)], input=input, capture_output=True,
                          env=env or cli_env(), cwd=cwd, timeout=timeout)
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode(), time.perf_counter() - t0)


# --- the virtual microphone --------------------------------------------------------------

def have_pulseaudio() -> bool:
    return all(shutil.which(t) for t in ("pulseaudio", "pactl", "parec", "pacat", "paplay"))


def _virtual_mic(cmd: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(VIRTUAL_MIC), cmd], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="session")
def virtual_mic():
    """PulseAudio with the `vsink` -> `vmic` virtual microphone, in a private runtime folder.

    Yields the environment (os.environ plus XDG_RUNTIME_DIR, PULSE_SERVER...) under which
    paplay and the monitor reach it; stopped and removed afterwards.
    """
    if not have_pulseaudio():
        pytest.skip("PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils)")
    # short path: the daemon's unix socket path must stay under 108 bytes
    runtime = tempfile.mkdtemp(prefix="ser-pulse-", dir="/tmp")
    env = {**os.environ, "SER_LIVE_PULSE_DIR": runtime}
    started = _virtual_mic("start", env)
    try:
        assert started.returncode == 0, f"virtual_mic.sh start failed:\n{started.stdout}\n{started.stderr}"
        for line in started.stdout.splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export "):].partition("=")
                env[key] = value
        assert env.get("XDG_RUNTIME_DIR") == runtime and "PULSE_SERVER" in env, started.stdout
        assert (os.stat(runtime).st_mode & 0o777) == 0o700
        yield env
    finally:
        _virtual_mic("stop", env)
        shutil.rmtree(runtime, ignore_errors=True)


# --- TLS ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(cert.pem, key.pem): a self-signed certificate for 127.0.0.1, made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return str(cert), str(key)
