"""A picture of a labelled corpus before training on it: balance, durations, example clips.

Fast on purpose: counts come from the records, durations from each file's header
(`soundfile.info`, about 0.3 ms a file, and it works for user corpora whose manifest has no
duration column), and only one example clip per emotion is decoded.
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ..labels import LABELS
from .data import ClipRecord
from . import plots


def _emotions(records: Sequence[ClipRecord]) -> list[str]:
    """Emotions present, in the unified label order."""
    present = {r.emotion for r in records}
    return [lbl for lbl in LABELS if lbl in present] + sorted(present - set(LABELS))


def _by_group(records: Sequence[ClipRecord], attr: str) -> dict[str, Counter]:
    groups: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        groups[getattr(r, attr) or "unknown"][r.emotion] += 1
    return dict(sorted(groups.items()))


def clip_durations(records: Sequence[ClipRecord]) -> dict[str, list[float]]:
    """Seconds per clip from the file headers, grouped by corpus; unreadable files are reported."""
    import soundfile as sf

    out: dict[str, list[float]] = defaultdict(list)
    for r in records:
        try:
            out[r.corpus].append(float(sf.info(str(r.path)).duration))
        except Exception as exc:  # libsndfile raises several types; all mean "no header"
            print(f"no duration: {r.path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                  file=sys.stderr)
    return dict(sorted(out.items()))


def _example(records: Sequence[ClipRecord], emotion: str):
    """The first train clip of `emotion` that decodes (any split if none does), with its log-mel.

    The log-mel is the model's own feature path (before dataset normalisation), in dB below the
    clip's peak, so the picture shows what the classifier is given.
    """
    import torch

    from ..audio.io import SAMPLE_RATE, AudioLoadError, load_audio
    from ..features import LogMel

    candidates = [r for r in records if r.emotion == emotion]
    candidates.sort(key=lambda r: r.split != "train")  # stable: keeps manifest order
    for r in candidates:
        try:
            wave = load_audio(r.path)
        except AudioLoadError as exc:
            print(f"skipped example: {exc}", file=sys.stderr)
            continue
        with torch.no_grad():
            logmel = LogMel().raw(torch.from_numpy(wave)[None])[0].numpy()
        peak_dbfs = 20.0 * np.log10(max(float(np.abs(wave).max()), 1e-9))
        caption = (f"{r.path.name}  ({r.corpus}, {r.speaker}, {r.split}, "
                   f"{wave.size / SAMPLE_RATE:.2f} s, peak {peak_dbfs:.0f} dBFS)")
        return emotion, caption, wave, logmel * (10.0 / np.log(10.0))
    return None


def corpus_report(records: Sequence[ClipRecord], out_dir: Path) -> list[Path]:
    """Write the corpus figures as PNGs into `out_dir` and return their paths."""
    from ..audio.io import SAMPLE_RATE
    from ..features import FeatureConfig

    out_dir = Path(out_dir)
    emotions = _emotions(records)
    per_emotion = Counter(r.emotion for r in records)
    written = [
        plots.plot_emotion_counts({e: per_emotion[e] for e in emotions},
                                  out_dir / "counts_emotion.png",
                                  f"clips per emotion (n={len(records)})"),
        plots.plot_stacked_counts(_by_group(records, "gender"), emotions,
                                  out_dir / "counts_gender.png", "clips per gender", "gender"),
        plots.plot_stacked_counts(_by_group(records, "corpus"), emotions,
                                  out_dir / "counts_corpus.png", "clips per corpus", "corpus"),
        plots.plot_stacked_counts(_by_group(records, "split"), emotions,
                                  out_dir / "counts_split.png", "clips per split", "split"),
        plots.plot_durations(clip_durations(records), out_dir / "durations.png",
                             "clip durations"),
    ]
    examples = [ex for ex in (_example(records, e) for e in emotions) if ex is not None]
    written.append(plots.plot_examples(examples, SAMPLE_RATE, FeatureConfig().hop_length,
                                       out_dir / "examples.png"))
    return written
