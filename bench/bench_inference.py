"""Speed of the shipped model: features + network per 2 s window on one CPU thread.

Targets (issue 2): batch 1 median <= 5 ms; batch 32 <= 1 ms per window. Both precisions are
timed (fp32, and bf16, which `--precision auto` picks on CPUs with native bfloat16), and the
seed projects' per-clip librosa feature extraction, in the same run on the same machine, and
the ratios printed, because these machines are noisy and only same-run ratios compare.

    .venv/bin/python bench/bench_inference.py [--model models] [--repeats 200]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from common import DEFAULT_MODEL, load_classifier, write_json


def interleaved(fns, repeats: int, warmup: int = 10) -> list[list[float]]:
    """Milliseconds per call of each function, calling them in turn `repeats` times."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, times in zip(fns, out):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000.0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    import torch

    from ser_live.model.runtime import CPU_CHUNK, model_digest, pick_precision
    from ser_live.train.baseline import time_seed_features

    clfs = {p: load_classifier(args.model, threads=1, precision=p) for p in ("fp32", "bf16")}
    default = pick_precision("auto", "cpu")
    rng = np.random.default_rng(0)
    # speech-like test signal: noise shaped by a 4 Hz syllable envelope
    t = np.arange(48000) / 16000
    clip = (rng.standard_normal(48000) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) * 0.1).astype(np.float32)
    w1 = clip[None, :32000].copy()
    w32 = np.stack([np.roll(clip, k * 500)[:32000] for k in range(32)])
    x32 = torch.from_numpy(w32)

    def one_call(clf):  # reference: the 32 windows in one model call, without the CPU chunking
        def run():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                        enabled=clf.precision == "bf16"):
                clf.module(x32)
        return run

    # each precision's calls alternate with the other's, after a warm-up of all, so drifts of
    # the machine hit them alike
    b1 = dict(zip(clfs, interleaved([lambda c=c: c.predict_windows(w1) for c in clfs.values()],
                                    args.repeats)))
    b32 = interleaved([f for c in clfs.values() for f in (lambda c=c: c.predict_windows(w32), one_call(c))],
                      max(20, args.repeats // 8), warmup=30)
    seed_ms = time_seed_features([clip] * 20)  # 3 s clips, like the seed projects' figure

    res: dict = {"precision": default, "seed_features_per_clip_ms": seed_ms,
                 "model_sha256": model_digest(args.model)}  # the card quotes only its own model's speed
    for k, p in enumerate(clfs):
        res[p] = {"batch1_median_ms": statistics.median(b1[p]),
                  "batch1_p90_ms": float(np.percentile(b1[p], 90)),
                  "batch32_per_window_ms": statistics.median(b32[2 * k]) / 32,
                  "batch32_one_call_per_window_ms": statistics.median(b32[2 * k + 1]) / 32,
                  "chunk": CPU_CHUNK[p]}
    ours = res[default]  # what the product runs here
    res["ratio_seed_features_over_ours_batch1"] = seed_ms / ours["batch1_median_ms"]
    res["ratio_seed_features_over_ours_batch32"] = seed_ms / ours["batch32_per_window_ms"]
    res["ratio_bf16_over_fp32_batch1"] = res["bf16"]["batch1_median_ms"] / res["fp32"]["batch1_median_ms"]
    res["ratio_bf16_over_fp32_batch32"] = res["bf16"]["batch32_per_window_ms"] / res["fp32"]["batch32_per_window_ms"]
    print(f"threads: {torch.get_num_threads()}  model: {Path(args.model) / 'model.pt'}  "
          f"precision here by default: {default}")
    for p in clfs:
        r = res[p]
        print(f"{p}: features + model, batch 1: median {r['batch1_median_ms']:.2f} ms (p90 {r['batch1_p90_ms']:.2f})"
              f"   target <= 5 ms")
        print(f"{p}: features + model, batch 32: {r['batch32_per_window_ms']:.3f} ms per window   target <= 1 ms"
              f"  (in chunks of {r['chunk']}; one call of 32: {r['batch32_one_call_per_window_ms']:.3f} ms, "
              f"{r['batch32_one_call_per_window_ms'] / r['batch32_per_window_ms']:.2f}x)")
    print(f"bf16 / fp32: batch 1 {res['ratio_bf16_over_fp32_batch1']:.2f}x, "
          f"batch 32 {res['ratio_bf16_over_fp32_batch32']:.2f}x")
    print(f"seed baseline (librosa MFCC+chroma+mel, features only, 3 s clip): {seed_ms:.2f} ms")
    print(f"ratio seed features / our features+model ({default}): "
          f"batch 1 {res['ratio_seed_features_over_ours_batch1']:.1f}x, "
          f"batch 32 {res['ratio_seed_features_over_ours_batch32']:.1f}x")
    write_json(args.json, res)


if __name__ == "__main__":
    main()
