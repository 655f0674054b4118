"""Shared fixtures: synthetic speech, the shared corpus, subprocess runs of the real CLI.

Tests run on a small shared CPU, so torch is held to one thread and everything heavy
(espeak-ng speech, the tiny synthetic corpus) is made once per session.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import synth

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO.parent / "shared" / "data" / "ser-corpus"
VENV_BIN = Path(sys.executable).parent
SER_LIVE = VENV_BIN / "ser-live"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if (SHARED_CORPUS / "manifest.csv").is_file():
        return
    skip = pytest.mark.skip(reason=f"shared corpus not found at {SHARED_CORPUS}")
    for item in items:
        if "corpus" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Keep in-process torch work to one thread: the tests share the CPU with real work."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def qapp():
    """The one QApplication of the session, as the product makes it. It must outlive every
    widget: a per-module application was freed with its module's last test while a window
    kept for inspection (`run_remote_ui.last`) was still alive, and Qt crashed the run."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ser_live.ui.app import qt_app

    return qt_app()


@pytest.fixture(autouse=True)
def _qt_objects_die_on_the_gui_thread(request: pytest.FixtureRequest):
    """A Qt test runs as the product's windows do, under `gui_thread_gc`: the widgets it drops
    are collected on this thread at its end, never by a server's or an engine's thread."""
    if "qapp" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("qapp")
    from ser_live.ui.gui_gc import gui_thread_gc

    with gui_thread_gc():
        yield


@pytest.fixture(scope="session")
def espeak() -> None:
    if not synth.have_espeak():
        pytest.skip("espeak-ng is not installed")


@pytest.fixture(scope="session")
def speech(espeak) -> np.ndarray:
    """About 2.5 s of espeak-ng speech, 16 kHz mono float32, peak ~0.5, no silence padding."""
    x = synth.synth("Dogs are sitting by the door, and the kids are talking.", "en-us")
    lo, hi = synth.speech_extent(x)
    x = x[lo:hi]
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    if not (SHARED_CORPUS / "manifest.csv").is_file():
        pytest.skip(f"shared corpus not found at {SHARED_CORPUS}")
    return SHARED_CORPUS


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def error_lines(self) -> list[str]:
        """Non-empty stderr lines, less the Python warnings a library may print."""
        return [ln for ln in self.stderr.splitlines()
                if ln.strip() and "Warning" not in ln and not ln.startswith("  warnings.warn")]

    def __str__(self) -> str:  # shown by failing asserts
        return (f"exit {self.returncode} after {self.seconds:.1f} s\n--- stdout\n{self.stdout[-3000:]}"
                f"\n--- stderr\n{self.stderr[-3000:]}")


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private decoded-clip cache ($SER_LIVE_CACHE) for this test, in-process and in subprocesses."""
    d = tmp_path / "cache"
    monkeypatch.setenv("SER_LIVE_CACHE", str(d))
    return d


def run_ser_live(*args: object, cwd: Path, cache_dir: Path, timeout: float = 180) -> CliResult:
    """The installed `ser-live` entry point in a subprocess, with its own clip cache."""
    env = {**os.environ, "SER_LIVE_CACHE": str(cache_dir), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    proc = subprocess.run([str(SER_LIVE), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)


@pytest.fixture(scope="session")
def ser_live():
    """`ser_live(*args, cwd=..., cache_dir=...)`: run the real CLI in a subprocess."""
    return run_ser_live


@pytest.fixture
def cli(cache_dir: Path, tmp_path: Path):
    """`cli(*args)`: run the real CLI in a subprocess, cwd = tmp_path, private cache."""

    def run(*args: object, timeout: float = 180) -> CliResult:
        return run_ser_live(*args, cwd=tmp_path, cache_dir=cache_dir, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory: pytest.TempPathFactory, espeak) -> Path:
    """manifest.csv of a learnable espeak corpus: neutral / sad / angry as prosody, voices as
    speakers, 4 sentences each (144 train, 36 test clips). Extra rows: 2 'happy' clips per test
    voice (a label a model trained here does not know) and one corrupt training file."""
    root = tmp_path_factory.mktemp("synth-corpus")
    extra = []
    for voice in synth.TEST_VOICES:
        for k in range(2):
            rel = f"happy/{voice.replace('+', '_')}-{k}.wav"
            synth.write_wav(root / rel, 0.25 * synth.synth_emotion(synth.SENTENCES[k], "happy", voice))
            extra.append({"path": rel, "corpus": "synth", "speaker": f"synth-{voice.replace('+', '_')}",
                          "emotion": "happy", "split": "test"})
    (root / "broken.wav").write_text("not audio\n")
    extra.append({"path": "broken.wav", "corpus": "synth", "speaker": "synth-en", "emotion": "sad",
                  "split": "train"})
    speakers = {**{v: "train" for v in synth.TRAIN_VOICES}, **{v: "test" for v in synth.TEST_VOICES}}
    return synth.make_corpus(root, speakers, synth.CORPUS_EMOTIONS, synth.SENTENCES[:4], extra=extra)
