"""Synthetic speech for tests: espeak-ng sentences as 16 kHz mono float32 arrays or WAV files.

Real speech (formants, pitch contours, pauses) exercises the VAD, the features and training
in a way that tones and noise cannot, and espeak-ng makes it without shipping recordings.
"Emotions" are realised as clearly different prosody (pitch, rate, loudness), and espeak
voices/variants stand in for speakers, so a tiny corpus is learnable in seconds.

Independent of `ser_live` on purpose: what the tests feed the product is not made by the
product.
"""
from __future__ import annotations

import csv
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000
ESPEAK = shutil.which("espeak-ng")

#: espeak-ng prosody per "emotion": pitch (-p 0..99), speed (-s words/min), amplitude (-a),
#: gap between words (-g, in 10 ms units).
STYLES: dict[str, dict[str, int]] = {
    "angry": {"pitch": 80, "speed": 260, "amplitude": 200},
    "sad": {"pitch": 15, "speed": 100, "amplitude": 60, "gap": 12},
    "neutral": {},
    "happy": {"pitch": 90, "speed": 190, "amplitude": 150},
}

#: espeak voices and variants that sound like different speakers.
VOICES: tuple[str, ...] = ("en", "en-us", "en+f3", "en+m3", "en-gb-scotland", "en+f2",
                           "en-029", "en+m7", "en+f4", "en-us+m2")

#: The tiny end-to-end corpus: 12 training voices (2 become validation speakers), 3 test
#: voices, three emotions. Found learnable in ~2500 augmented training windows.
TRAIN_VOICES: tuple[str, ...] = ("en", "en-us+m2", "en+f2", "en+m3", "en-gb-scotland", "en+f4",
                                 "en-029", "en+m7", "en+f1", "en+m1", "en-gb-x-rp", "en-us+f1")
TEST_VOICES: tuple[str, ...] = ("en-us", "en+f3", "en+m4")
CORPUS_EMOTIONS: tuple[str, ...] = ("neutral", "sad", "angry")

SENTENCES: tuple[str, ...] = (
    "Kids are talking by the door.",
    "Dogs are sitting by the door.",
    "It is eleven o'clock and the train has not arrived yet.",
    "I told you to put the boxes in the kitchen.",
    "We will meet again tomorrow morning at the station.",
    "The weather was different when we left the house.",
)


def have_espeak() -> bool:
    return ESPEAK is not None


def synth(text: str, voice: str = "en", pitch: int | None = None, speed: int | None = None,
          amplitude: int | None = None, gap: int | None = None) -> np.ndarray:
    """`text` spoken by espeak-ng, as 16 kHz mono float32 in [-1, 1]."""
    import soxr

    if ESPEAK is None:
        raise RuntimeError("espeak-ng is not installed")
    cmd = [ESPEAK, "-v", voice]
    for flag, value in (("-p", pitch), ("-s", speed), ("-a", amplitude), ("-g", gap)):
        if value is not None:
            cmd += [flag, str(value)]
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(cmd + ["-w", str(wav), text], check=True, capture_output=True, timeout=30)
        data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    x = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def synth_emotion(text: str, emotion: str, voice: str = "en") -> np.ndarray:
    """`text` in `voice` with the prosody of `emotion` (see STYLES)."""
    return synth(text, voice, **STYLES[emotion])


def speech_extent(audio: np.ndarray, rel: float = 0.02) -> tuple[int, int]:
    """First and one-past-last sample whose magnitude exceeds `rel` of the peak."""
    idx = np.flatnonzero(np.abs(audio) > rel * float(np.max(np.abs(audio))))
    return int(idx[0]), int(idx[-1]) + 1


def pad(audio: np.ndarray, before_s: float, after_s: float, noise: float = 0.0,
        seed: int = 0) -> np.ndarray:
    """`audio` with silence (optionally white noise of RMS `noise`) before and after it."""
    out = np.concatenate([np.zeros(int(before_s * SAMPLE_RATE), np.float32), audio,
                          np.zeros(int(after_s * SAMPLE_RATE), np.float32)])
    if noise:
        out = out + noise * np.random.default_rng(seed).standard_normal(len(out)).astype(np.float32)
    return out.astype(np.float32)


def write_wav(path: str | Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """16-bit PCM WAV."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(p), audio, rate, subtype="PCM_16")
    return p


def make_corpus(root: str | Path, speakers: Mapping[str, str], emotions: Sequence[str],
                sentences: Sequence[str] = SENTENCES[:4], corpus: str = "synth",
                extra: Iterable[dict] = (), level: float = 0.25) -> Path:
    """Write one WAV per (speaker, emotion, sentence) under `root` and a manifest.csv.

    `speakers` maps an espeak voice to its split ("train" or "test"). `extra` rows are
    appended to the manifest as they are (for broken files or foreign labels). Clips are
    scaled by `level` (espeak-ng speaks at full scale; acted corpora peak around 0.1-0.3).
    Returns the manifest path; clip paths in it are relative to `root`.
    """
    root = Path(root)
    rows = []
    for voice, split in speakers.items():
        spk = voice.replace("+", "_")
        for emotion in emotions:
            for k, text in enumerate(sentences):
                rel = f"{spk}/{emotion}-{k:02d}.wav"
                write_wav(root / rel, level * synth_emotion(text, emotion, voice))
                rows.append({"path": rel, "corpus": corpus, "speaker": f"{corpus}-{spk}",
                             "emotion": emotion, "split": split, "sentence_id": f"{k:02d}"})
    rows.extend(extra)
    return write_manifest(root / "manifest.csv", rows)


def write_manifest(path: str | Path, rows: Sequence[Mapping[str, str]],
                   columns: Sequence[str] = ("path", "corpus", "speaker", "emotion", "split",
                                             "sentence_id")) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({c: row.get(c, "") for c in columns})
    return p
