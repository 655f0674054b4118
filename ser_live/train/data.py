"""Labelled clips: the shared manifest, user corpora, speaker-grouped splits and an audio cache.

The `split` column of a manifest is the law: `test` speakers are never used for training,
tuning or picking checkpoints. Validation speakers are carved out of the `train` speakers.
"""
from __future__ import annotations

import csv
import hashlib
import os
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..labels import UnknownLabelError, normalize_label


@dataclass(frozen=True)
class ClipRecord:
    """One labelled recording."""

    path: Path
    corpus: str
    speaker: str
    emotion: str
    split: str = "train"
    gender: str = ""
    intensity: str = ""
    sentence_id: str = ""


class DataError(Exception):
    """A manifest or corpus that cannot be used; the message is one line naming the culprit."""


MANIFEST_COLUMNS = ("path", "corpus", "speaker", "emotion", "split")


def read_manifest(manifest: str | Path, root: str | Path | None = None) -> list[ClipRecord]:
    """Parse a manifest CSV; paths are relative to `root` (default: the manifest's folder)."""
    mpath = Path(manifest)
    if not mpath.is_file():
        raise DataError(f"{mpath}: manifest not found")
    base = Path(root) if root is not None else mpath.parent
    with mpath.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{mpath}: missing column(s) {', '.join(missing)}")
        records = []
        for lineno, row in enumerate(reader, start=2):
            try:
                emotion = normalize_label(row["emotion"])
            except UnknownLabelError as exc:
                raise DataError(f"{mpath}:{lineno}: field 'emotion': {exc}") from None
            records.append(ClipRecord(
                path=base / row["path"], corpus=row["corpus"], speaker=row["speaker"],
                emotion=emotion, split=row["split"].strip().lower(),
                gender=row.get("gender", "") or "", intensity=row.get("intensity", "") or "",
                sentence_id=row.get("sentence_id", "") or ""))
    return records


def select(records: Iterable[ClipRecord], split: str | None = None,
           corpus: str | None = None, labels: Sequence[str] | None = None) -> list[ClipRecord]:
    """Filter by split, corpus (comma-separated names allowed) and label set."""
    corpora = set(corpus.split(",")) if corpus else None
    keep = set(labels) if labels else None
    return [r for r in records
            if (split is None or r.split == split)
            and (corpora is None or r.corpus in corpora)
            and (keep is None or r.emotion in keep)]


def speaker_split(records: Sequence[ClipRecord], val_fraction: float = 0.15,
                  seed: int = 0) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """Carve validation speakers out of training records, per corpus, stratified by gender.

    Corpora with fewer than 4 speakers (TESS has 2) stay whole in training: holding out one of
    two speakers would cost half the corpus and say little about other speakers.
    """
    if any(r.split == "test" for r in records):
        raise DataError("speaker_split got test-split records; test speakers never train or validate")
    rng = random.Random(seed)
    by_corpus: dict[str, dict[str, list[str]]] = {}
    for r in records:
        by_corpus.setdefault(r.corpus, {}).setdefault(r.gender or "?", [])
        if r.speaker not in by_corpus[r.corpus][r.gender or "?"]:
            by_corpus[r.corpus][r.gender or "?"].append(r.speaker)
    val_speakers: set[tuple[str, str]] = set()  # (corpus, speaker): ids need not be global
    for corpus, groups in by_corpus.items():
        if sum(len(s) for s in groups.values()) < 4:
            continue
        for speakers in groups.values():
            speakers = sorted(speakers)
            rng.shuffle(speakers)
            val_speakers.update((corpus, s) for s in speakers[:max(1, round(len(speakers) * val_fraction))])
    train = [r for r in records if (r.corpus, r.speaker) not in val_speakers]
    val = [r for r in records if (r.corpus, r.speaker) in val_speakers]
    return train, val


def label_counts(records: Iterable[ClipRecord]) -> Counter:
    return Counter(r.emotion for r in records)


def load_clip(path: str | Path) -> np.ndarray:
    """A recorded clip as the model sees it: 16 kHz mono float32, cut to its speech."""
    from ..audio.io import load_audio
    from ..vad import trim_to_speech

    return trim_to_speech(load_audio(path))


class AudioCache:
    """Decoded, speech-trimmed clips kept in memory and on disk between runs.

    Decoding 10 k Opus clips and finding their speech takes a minute; training reads every clip
    every epoch. The disk copy (a .npz under the cache folder, never inside the repo) is keyed
    by the list of files and the preprocessing version. Unreadable files are reported by name,
    skipped, and counted in `failed`.
    """

    VERSION = 2  # 2: clips trimmed by the live SpeechGate

    def __init__(self, records: Sequence[ClipRecord], cache_dir: Path | None = None,
                 progress: bool = True) -> None:
        from ..audio.io import AudioLoadError

        # absolute paths: the same corpus named from another folder is the same cache
        key = hashlib.sha1(("\n".join(os.path.abspath(r.path) for r in records)
                            + f"|v{self.VERSION}").encode()).hexdigest()[:16]
        cache_file = (cache_dir / f"clips-{key}.npz") if cache_dir else None
        self.failed: list[tuple[Path, str]] = []
        if cache_file is not None and cache_file.is_file():
            z = np.load(cache_file, allow_pickle=False)
            ok = z["ok"]
            self.records = [r for r, good in zip(records, ok) if good]
            self.failed = [(r.path, "unreadable (cached)") for r, good in zip(records, ok) if not good]
            self._audio, self._offsets = z["audio"], z["offsets"]
            return
        from tqdm import tqdm

        pieces, ok = [], []
        for r in tqdm(records, desc="decoding clips", unit="clip", disable=not progress):
            try:
                pieces.append(load_clip(r.path))
                ok.append(True)
            except AudioLoadError as exc:
                print(f"skipped: {exc}", file=sys.stderr)
                self.failed.append((r.path, str(exc)))
                ok.append(False)
        self.records = [r for r, good in zip(records, ok) if good]
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(lengths)])
        self._audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp.npz")
            np.savez(tmp, audio=self._audio, offsets=self._offsets, ok=np.array(ok))
            tmp.replace(cache_file)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> np.ndarray:
        return self._audio[self._offsets[i]:self._offsets[i + 1]]


def default_cache_dir() -> Path:
    """Where decoded clips are cached: $SER_LIVE_CACHE or ~/.cache/ser-live."""
    return Path(os.environ.get("SER_LIVE_CACHE", Path.home() / ".cache" / "ser-live"))
