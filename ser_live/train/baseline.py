"""The seed projects' classifier, kept as the baseline every model is compared with.

Per clip: MFCC-40 mean, chroma_stft mean and mel-spectrogram(128) mean over the whole clip
(the classic 180-dim vector), then StandardScaler and an sklearn MLP. Features are computed on
the full 16 kHz clip from `load_audio`, not speech-trimmed, because that is what the seed
projects did; the point of a baseline is to measure their approach, not an improved one.
"""
from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..audio.io import SAMPLE_RATE, AudioLoadError, load_audio
from .data import ClipRecord, DataError, default_cache_dir

#: Length of the seed feature vector: 40 MFCC + 12 chroma + 128 mel.
N_FEATURES = 180
#: Bump when the features change, so stale caches are not reused.
VERSION = 1


def seed_vector(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The 180-dim seed vector of one clip.

    The seed code ran three librosa calls that each computed the same STFT (n_fft 2048, hop
    512); here one magnitude STFT feeds all three, which gives identical numbers.
    """
    import librosa

    mag = np.abs(librosa.stft(np.asarray(audio, dtype=np.float32)))
    mel = librosa.feature.melspectrogram(S=mag ** 2, sr=sample_rate)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=40)
    chroma = librosa.feature.chroma_stft(S=mag, sr=sample_rate)
    return np.concatenate([mfcc.mean(axis=1), chroma.mean(axis=1), mel.mean(axis=1)]).astype(np.float32)


def _cache_key(records: Sequence[ClipRecord]) -> str:
    """Hash of the file list, with each file's size and mtime so an edited file is recomputed."""
    h = hashlib.sha1(f"seed-v{VERSION}".encode())
    for r in records:
        try:
            st = Path(r.path).stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"\n{r.path}|{stamp}".encode())
    return h.hexdigest()[:16]


def seed_features(records: Sequence[ClipRecord], cache_dir: Path | None = None,
                  progress: bool = True) -> tuple[np.ndarray, list[ClipRecord]]:
    """Seed vectors (n_kept, 180) and the records they belong to.

    Files that cannot be decoded (or give non-finite features) are reported on stderr by name
    and left out. The result is cached as `baseline-<hash>.npz` under `cache_dir` (default:
    `default_cache_dir()`), so a second evaluation of the same files skips the minutes of
    librosa work.
    """
    cache_file = (cache_dir or default_cache_dir()) / f"baseline-{_cache_key(records)}.npz"
    if cache_file.is_file():
        z = np.load(cache_file, allow_pickle=False)
        ok = z["ok"]
        for r, good in zip(records, ok):
            if not good:
                print(f"skipped (cached): {r.path}: unreadable", file=sys.stderr)
        return z["features"], [r for r, good in zip(records, ok) if good]
    from tqdm import tqdm

    rows, ok = [], []
    for r in tqdm(records, desc="seed features", unit="clip", disable=not progress):
        try:
            vec = seed_vector(load_audio(r.path))
            if not np.isfinite(vec).all():
                raise AudioLoadError(f"{r.path}: seed features are not finite")
        except AudioLoadError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            ok.append(False)
            continue
        rows.append(vec)
        ok.append(True)
    features = np.stack(rows) if rows else np.zeros((0, N_FEATURES), np.float32)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp.npz")
    np.savez(tmp, features=features, ok=np.array(ok, dtype=bool))
    tmp.replace(cache_file)
    return features, [r for r, good in zip(records, ok) if good]


def time_seed_features(audio_list: Sequence[np.ndarray]) -> float:
    """Median milliseconds per clip of the seed feature extraction on already-decoded audio.

    Decoding is excluded so the number compares feature paths only. One untimed warm-up call
    first, because librosa compiles numba code on its first use.
    """
    if not audio_list:
        raise ValueError("time_seed_features needs at least one clip")
    seed_vector(audio_list[0])
    times = []
    for audio in audio_list:
        start = time.perf_counter()
        seed_vector(audio)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


@dataclass
class SeedBaseline:
    """A fitted seed classifier; probabilities come out aligned with `labels`."""

    labels: tuple[str, ...]
    scaler: Any
    mlp: Any
    cache_dir: Path | None = None

    def predict_proba(self, records: Sequence[ClipRecord],
                      progress: bool = True) -> tuple[np.ndarray, list[ClipRecord]]:
        """Class probabilities (n_kept, len(labels)) and the records that could be read.

        A label absent from the training data gets probability 0 rather than shifting columns.
        """
        X, kept = seed_features(records, self.cache_dir, progress)
        probs = np.zeros((len(kept), len(self.labels)), dtype=np.float64)
        if kept:
            probs[:, self.mlp.classes_] = self.mlp.predict_proba(self.scaler.transform(X))
        return probs, kept


def fit_baseline(train_records: Sequence[ClipRecord], labels: Sequence[str], seed: int = 0,
                 cache_dir: Path | None = None, progress: bool = True) -> SeedBaseline:
    """Fit StandardScaler + MLP with the seed projects' hyperparameters on `train_records`."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    index = {lbl: i for i, lbl in enumerate(labels)}
    stray = sorted({r.emotion for r in train_records} - set(index))
    if stray:
        raise DataError(f"training clips have emotion(s) outside the label set: {', '.join(stray)}")
    X, kept = seed_features(train_records, cache_dir, progress)
    if len({r.emotion for r in kept}) < 2:
        raise DataError("the baseline needs readable training clips of at least two emotions")
    y = np.array([index[r.emotion] for r in kept])
    scaler = StandardScaler().fit(X)
    # learning_rate only matters for solver="sgd"; kept exactly as the seed projects wrote it.
    # sklearn clips batch_size to the sample count anyway; doing it here spares the warning.
    mlp = MLPClassifier(hidden_layer_sizes=(500,), alpha=1e-3, batch_size=min(256, len(y)),
                        learning_rate="adaptive", max_iter=500, random_state=seed)
    mlp.fit(scaler.transform(X), y)
    return SeedBaseline(labels=tuple(labels), scaler=scaler, mlp=mlp, cache_dir=cache_dir)
