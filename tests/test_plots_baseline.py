"""The seed baseline, its feature cache, the training plots and the corpus report.

Everything runs on a tiny synthetic corpus written into tmp_path: three "emotions" with
clearly different spectra (a low tone, a high tone, white noise), so a working baseline must
separate them and a broken one cannot hide behind a real corpus' noise.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser_live.train import baseline, plots
from ser_live.train.corpus_report import corpus_report
from ser_live.train.data import ClipRecord

SR = 16_000
EMOTIONS = ("neutral", "happy", "angry")


def _clip(emotion: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.6 * SR)) / SR
    amp = rng.uniform(0.2, 0.6)
    if emotion == "neutral":
        x = amp * np.sin(2 * np.pi * rng.uniform(180, 260) * t)
    elif emotion == "happy":
        x = amp * np.sin(2 * np.pi * rng.uniform(2500, 3200) * t)
    else:
        x = amp * rng.uniform(-1, 1, t.size)
    return (x + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[list[ClipRecord], list[ClipRecord], Path]:
    """(train records incl. one corrupt file, held-out test records, the corrupt file)."""
    root = tmp_path_factory.mktemp("synth")
    rng = np.random.default_rng(0)
    bad = root / "broken.wav"
    bad.write_text("this is not audio\n")
    # the corrupt clip comes first among "neutral" train clips, so the report must skip it
    train = [ClipRecord(path=bad, corpus="synth", speaker="s0", emotion="neutral", gender="f")]
    test = []
    for emotion in EMOTIONS:
        for i in range(12):
            path = root / f"{emotion}_{i:02d}.wav"
            sf.write(path, _clip(emotion, rng), SR)
            split = "train" if i < 8 else "test"
            record = ClipRecord(path=path, corpus="synth" if i % 2 else "other",
                                speaker=f"s{i}", emotion=emotion, split=split,
                                gender="m" if i % 2 else "f")
            (train if split == "train" else test).append(record)
    return train, test, bad


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_baseline_learns_caches_and_skips_corrupt(corpus, tmp_path, monkeypatch, capsys):
    train, test, bad = corpus
    monkeypatch.setenv("SER_LIVE_CACHE", str(tmp_path / "default-cache"))
    cache = tmp_path / "cache"
    labels = ["neutral", "happy", "angry", "sad"]  # "sad" has no training clips
    model = baseline.fit_baseline(train, labels, seed=0, cache_dir=cache, progress=False)
    assert bad.name in capsys.readouterr().err
    cached = list(cache.glob("baseline-*.npz"))
    assert len(cached) == 1

    probs, kept = model.predict_proba(test, progress=False)
    assert probs.shape == (len(test), len(labels)) and kept == test
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(probs[:, labels.index("sad")] == 0.0)
    truth = np.array([labels.index(r.emotion) for r in kept])
    assert (probs.argmax(axis=1) == truth).mean() >= 0.9  # chance is 1/3

    # a second run over the same files must come from the cache, not from librosa
    def no_librosa(*_args, **_kwargs):
        raise AssertionError("seed features recomputed despite the cache")

    monkeypatch.setattr(baseline, "seed_vector", no_librosa)
    X, kept_train = baseline.seed_features(train, cache_dir=cache, progress=False)
    assert X.shape == (len(train) - 1, baseline.N_FEATURES)
    assert bad not in [r.path for r in kept_train]
    assert bad.name in capsys.readouterr().err
    assert not (tmp_path / "default-cache").exists()


def test_time_seed_features(corpus):
    train, _, _ = corpus
    audio = [sf.read(r.path, dtype="float32")[0] for r in train[1:4]]
    ms = baseline.time_seed_features(audio)
    assert 0.0 < ms < 5000.0


def test_plot_confusion_and_curves(tmp_path):
    cm = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]])  # an empty row must not divide by zero
    out = plots.plot_confusion(cm, list(EMOTIONS), tmp_path / "cm.png", "synthetic")
    width, height = _png_size(out)
    assert width >= 600 and height >= 500

    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e + 0.01 * e,
                "val_ua": 0.3 + 0.05 * e, "val_wa": 0.35 + 0.05 * e, "lr": 1e-3 / e}
               for e in range(1, 6)]
    out = plots.plot_curves(history, tmp_path / "sub" / "curves.png")
    assert _png_size(out) == (12 * plots.DPI, round(4.5 * plots.DPI))
    # a run with `--ema` also draws its optimiser's own weights' UA
    averaged = plots.plot_curves([{**row, "val_ua_raw": row["val_ua"] - 0.1} for row in history],
                                 tmp_path / "averaged.png")
    assert _png_size(averaged) == _png_size(out)
    import matplotlib.image

    assert not np.array_equal(matplotlib.image.imread(averaged), matplotlib.image.imread(out))


def test_corpus_report_writes_every_figure(corpus, tmp_path, capsys):
    train, test, bad = corpus
    paths = corpus_report(train + test, tmp_path / "report")
    assert [p.name for p in paths] == [
        "counts_emotion.png", "counts_gender.png", "counts_corpus.png", "counts_split.png",
        "durations.png", "examples.png"]
    for p in paths:
        width, height = _png_size(p)
        assert p.parent == tmp_path / "report" and width >= 600 and height >= 400
    # one example row per emotion: 3 rows of 1.9 in plus the title strip
    assert _png_size(paths[-1])[1] == round((1.9 * len(EMOTIONS) + 0.6) * plots.DPI)
    assert bad.name in capsys.readouterr().err
