"""Combination probe: does averaging finished runs beat the shipped model on validation speakers?

Two ways to get more out of runs already trained, before spending another hour training:
- ensembles (`--models DIR ...`): every subset of the exported models, probabilities averaged
  (an ensemble of k models also costs k times the inference time);
- weight interpolation (`--interpolate A.pt B.pt`): the weights (1-a)*A + a*B for a in
  0, 0.25, ..., 1, where B was fine-tuned from A (`train --init A`), as WiSE-FT does to keep
  a fine-tune's robustness without losing the original's accuracy.
Each candidate is scored as `ser-live evaluate --split val` scores a model: UA on the
validation speakers its checkpoint was chosen on, clean, with 10 dB white noise and through a
simulated phone line, with RAVDESS's share beside each. Test speakers are never read. The
baseline is the first model (or A) alone, in the same run.

    .venv/bin/python bench/probe_combine.py --models models runs/r4/model runs/r8/model
    .venv/bin/python bench/probe_combine.py --interpolate runs/r3/best.pt runs/r7/best.pt
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from common import ROOT, write_json

CONDITIONS = ("none", "noise10", "telephone")
Predict = Callable[[np.ndarray], np.ndarray]


def interpolated(a: dict, b: dict, alpha: float) -> dict:
    """State dict (1 - alpha) * a + alpha * b; integer buffers (batch counts) are taken from b."""
    return {k: a[k] * (1 - alpha) + b[k] * alpha if b[k].is_floating_point() else b[k] for k in b}


def eager_predictor(net) -> Predict:
    import torch

    from ser_live.model.net import ProbabilityModel

    model = ProbabilityModel(net.eval())

    def predict(windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(windows)).numpy()
    return predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", default=str(ROOT.parent / "shared/data/ser-corpus/manifest.csv"))
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--models", nargs="+", metavar="DIR", help="exported model folders")
    group.add_argument("--interpolate", nargs=2, metavar=("A", "B"), help="checkpoints, B fine-tuned from A")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    import torch

    from ser_live.model.runtime import META_FILE, Classifier, clip_probabilities
    from ser_live.train.data import AudioCache, default_cache_dir, read_manifest
    from ser_live.train.evaluate import corrupt_clip
    from ser_live.train.export import load_checkpoint
    from ser_live.train.metrics import scores

    torch.set_num_threads(args.threads)
    if args.models:
        metas = [json.loads((Path(d) / META_FILE).read_text()) for d in args.models]
        speakers, labels = metas[0]["training"]["val_speakers"], metas[0]["labels"]
        if any(m["training"]["val_speakers"] != speakers or m["labels"] != labels for m in metas):
            sys.exit("--models: the models were validated on different speakers or labels")
        predictors = {Path(d).name if Path(d).name != "model" else Path(d).parent.name:
                      Classifier(d, device="cpu").predict_windows for d in args.models}
    else:
        (net_a, ckpt_a), (net_b, ckpt_b) = (load_checkpoint(Path(p)) for p in args.interpolate)
        speakers, labels = ckpt_a["val_speakers"], ckpt_a["labels"]
        if ckpt_b["val_speakers"] != speakers:
            sys.exit("--interpolate: the checkpoints were validated on different speakers")
        sd_a, sd_b = net_a.state_dict(), net_b.state_dict()
        predictors = {}
        for alpha in (0.0, 0.25, 0.5, 0.75, 1.0):
            net = copy.deepcopy(net_a)
            net.load_state_dict(interpolated(sd_a, sd_b, alpha))
            predictors[f"a={alpha:.2f}"] = eager_predictor(net)

    records = [r for r in read_manifest(args.manifest) if r.split == "train" and r.speaker in set(speakers)]
    cache = AudioCache(records, default_cache_dir())
    y = np.array([labels.index(r.emotion) for r in cache.records])
    ravdess = np.array([r.corpus == "ravdess" for r in cache.records])
    clips = {c: [corrupt_clip(cache[i], c, seed=i) for i in range(len(cache))] for c in CONDITIONS}
    print(f"{len(cache)} clips of {len(speakers)} validation speakers; UA all / RAVDESS")
    probs = {name: {c: clip_probabilities(p, clips[c]) for c in CONDITIONS} for name, p in predictors.items()}

    names = list(probs)
    candidates = ([combo for k in range(1, len(names) + 1) for combo in itertools.combinations(names, k)]
                  if args.models else [(n,) for n in names])
    results: list[dict] = []
    for combo in candidates:
        row = {"models": list(combo)}
        for c in CONDITIONS:
            pred = np.mean([probs[n][c] for n in combo], axis=0).argmax(1)
            row[c] = scores(y, pred, labels)["ua"]
            row[c + "_ravdess"] = scores(y[ravdess], pred[ravdess], labels)["ua"]
        row["mean"] = float(np.mean([row[c] for c in CONDITIONS]))
        row["ratio"] = row["mean"] / (results[0] if results else row)["mean"]
        results.append(row)
        print(f"{' + '.join(combo):<32}" + "  ".join(f"{c} {row[c]:.3f}/{row[c + '_ravdess']:.3f}"
                                                     for c in CONDITIONS)
              + f"  mean {row['mean']:.3f} ({row['ratio']:.3f}x {names[0]})")
    write_json(args.json, results)


if __name__ == "__main__":
    main()
