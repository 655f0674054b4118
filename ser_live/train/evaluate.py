"""`ser-live evaluate`: score a shipped model on labelled clips, the way the model card reports.

Clips are decoded and cut to speech exactly as in training (`load_clip`), windowed, classified
by the TorchScript model (not the training code), and each clip's prediction is the mean of
its windows' probabilities. With `--classes`, only clips of those labels are scored and the
prediction is the argmax among those labels, for corpora with fewer classes than the model.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from .data import AudioCache, ClipRecord, DataError, default_cache_dir
from .metrics import scores


def corrupt_clip(audio: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """The robustness conditions: white noise at 10 dB SNR, or a simulated phone line."""
    from .augment import mix_at_snr, telephone

    if kind == "noise10":
        rng = np.random.default_rng(seed)
        return mix_at_snr(audio, rng.standard_normal(len(audio)).astype(np.float32), 10.0)
    if kind == "telephone":
        return telephone(audio)
    return audio


def validation_records(records: Sequence[ClipRecord], model_dir: Path) -> list[ClipRecord]:
    """The clips of the speakers the model's checkpoint was chosen on (from its model.json).

    Scoring candidates here, clean and corrupted, is how to compare models without
    looking at test speakers.
    """
    from ..model.runtime import META_FILE

    meta_path = model_dir / META_FILE
    try:
        speakers = set(json.loads(meta_path.read_text())["training"]["val_speakers"])
    except (OSError, ValueError, KeyError, TypeError):
        raise DataError(f"{meta_path}: no list of validation speakers (training.val_speakers)") from None
    return [r for r in records if r.split == "train" and r.speaker in speakers]


def _restrict(probs: np.ndarray, model_labels: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Columns of `probs` for `labels`, in that order (argmax among them)."""
    return probs[:, [list(model_labels).index(lbl) for lbl in labels]]


def print_report(name: str, rep: dict) -> None:
    print(f"{name}: n={rep['n']}  UA {rep['ua']:.3f}  WA {rep['wa']:.3f}  macro-F1 {rep['macro_f1']:.3f}")


def evaluate(records: Sequence[ClipRecord], model_dir: Path, classes: Sequence[str] | None,
             out: Path, baseline: bool = False, train_records: Sequence[ClipRecord] = (),
             device: str = "auto", corrupt: str = "none", command: str = "",
             precision: str = "auto") -> dict:
    """Score the model in `model_dir` on `records`; write `out` (JSON) and a confusion PNG."""
    from ..model.runtime import Classifier, clip_probabilities, model_digest
    from .plots import plot_confusion

    clf = Classifier(model_dir, device=device, precision=precision)
    model_labels = clf.labels
    if classes:
        bad = [c for c in classes if c not in model_labels]
        if bad:
            raise DataError(f"--classes: the model has no label(s) {', '.join(bad)}; "
                            f"it knows {', '.join(model_labels)}")
    labels = list(classes) if classes else list(model_labels)
    skipped_label = Counter(r.emotion for r in records if r.emotion not in labels)
    for lbl, n in sorted(skipped_label.items()):
        print(f"skipped {n} clip(s) labelled {lbl!r}: not among the evaluated labels", file=sys.stderr)
    kept = [r for r in records if r.emotion in labels]
    if not kept:
        raise DataError("no clips to evaluate after filtering by split, corpus and labels")

    cache = AudioCache(kept, default_cache_dir())
    clips = [corrupt_clip(cache[i], corrupt, seed=i) for i in range(len(cache))]
    probs = _restrict(clip_probabilities(clf.predict_windows, clips, progress=True),
                      model_labels, labels)
    y = np.array([labels.index(r.emotion) for r in cache.records])
    pred = probs.argmax(1)
    report = {**scores(y, pred, labels), "model": clf.meta.get("name", ""),
              "model_dir": str(model_dir), "model_sha256": model_digest(model_dir),
              "precision": clf.precision, "corrupt": corrupt, "classes": list(labels),
              "skipped_label": dict(skipped_label), "skipped_unreadable": len(cache.failed),
              "corpora": sorted({r.corpus for r in cache.records}), "command": command}
    corpora = sorted({r.corpus for r in cache.records})
    if len(corpora) > 1:
        report["per_corpus"] = {}
        for c in corpora:
            m = np.array([r.corpus == c for r in cache.records])
            report["per_corpus"][c] = {k: v for k, v in scores(y[m], pred[m], labels).items()
                                       if k in ("n", "ua", "wa", "macro_f1")}
    print_report(f"model ({clf.precision})", report)
    for c, rep in report.get("per_corpus", {}).items():
        print_report(f"  {c}", rep)
    for lbl, pc in report["per_class"].items():
        print(f"  {lbl:>10}: precision {pc['precision']:.3f}  recall {pc['recall']:.3f}  "
              f"F1 {pc['f1']:.3f}  n={pc['support']}")
    if baseline:
        from .baseline import fit_baseline

        model = fit_baseline([r for r in train_records if r.emotion in model_labels], model_labels)
        bprobs, brecs = model.predict_proba(list(cache.records))
        by = np.array([labels.index(r.emotion) for r in brecs])
        report["baseline"] = {k: v for k, v in scores(
            by, _restrict(bprobs, model_labels, labels).argmax(1), labels).items()
            if k in ("n", "ua", "wa", "macro_f1", "confusion")}
        report["baseline"]["name"] = "seed MFCC-40+chroma+mel-128 means, MLP(500)"
        print_report("seed baseline", report["baseline"])
    if skipped_label:
        print(f"skipped {sum(skipped_label.values())} clip(s) with labels outside the evaluation")
    if cache.failed:
        print(f"skipped {len(cache.failed)} unreadable file(s)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    png = out.with_suffix(".confusion.png")
    plot_confusion(np.array(report["confusion"]), labels, png,
                   title=f"{', '.join(report['corpora'])} ({'clean' if corrupt == 'none' else corrupt}): "
                         f"UA {report['ua']:.3f}")
    print(f"wrote {out} and {png}")
    return report
