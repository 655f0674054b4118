"""Front-end probe: which feature front end keeps emotion readable under noise and phone lines?

Training a CNN+LSTM takes most of an hour on a CPU, so candidate front ends are screened
first with a linear probe: each clip's central 2 s window -> front end -> per-band mean,
spread and mean frame-to-frame change -> logistic regression fitted on the training speakers
(clean, and clean plus an augmented copy: white noise at 5-30 dB or a phone line), scored as
UA on the validation speakers of `train --seed SEED`, clean, with 10 dB white noise and through
a simulated phone line (the same corruptions as `evaluate --corrupt`). Test speakers are never
read. The shipped log-mel (80 dB floor) is the baseline, scored in the same run.

    .venv/bin/python bench/probe_frontends.py [--manifest ../shared/data/ser-corpus/manifest.csv]
"""
from __future__ import annotations

import argparse
from typing import Callable

import numpy as np

from common import ROOT, write_json

CONDITIONS = ("none", "noise10", "telephone")


def front_ends() -> dict[str, Callable]:
    """name -> function from mel power (batch, n_mels, frames) to a feature map of that shape."""
    import librosa
    import torch

    from ser_live.features import FeatureConfig, LogMel

    lm80, lm50 = LogMel(FeatureConfig(top_db=80.0)), LogMel(FeatureConfig(top_db=50.0))
    pcen_fe = LogMel(FeatureConfig(compression="pcen"))

    def pcen(mel: torch.Tensor) -> torch.Tensor:
        mag = mel.sqrt()
        mag = mag / mag.amax(dim=(1, 2), keepdim=True).clamp_min(1e-10)  # gain-invariant input
        return torch.from_numpy(librosa.pcen(mag.numpy() * 2**31, sr=16000, hop_length=160,
                                             axis=-1)).float()

    def spectral_subtraction(mel: torch.Tensor) -> torch.Tensor:
        noise = torch.quantile(mel, 0.1, dim=2, keepdim=True)
        return lm80.log_peak(torch.maximum(mel - 2.0 * noise, 0.05 * mel))

    return {
        "log-mel, 80 dB floor (shipped)": lm80.log_peak,
        "log-mel, 50 dB floor": lm50.log_peak,
        "log-mel minus window band means": lambda m: (lambda x: x - x.mean(2, keepdim=True))(lm80.log_peak(m)),
        "PCEN (librosa, smoother from 1)": pcen,
        "PCEN of power (`--compression pcen`)": pcen_fe.pcen_peak,
        "spectral subtraction": spectral_subtraction,
    }


def pooled_features(waves: list[np.ndarray], fronts: dict[str, Callable]) -> dict[str, np.ndarray]:
    """Each front end's per-band mean, spread and mean absolute change over each window."""
    import torch

    from ser_live.features import LogMel

    lm = LogMel()
    out: dict[str, list[np.ndarray]] = {k: [] for k in fronts}
    for i in range(0, len(waves), 256):
        mel = lm.mel_power(torch.from_numpy(np.stack(waves[i:i + 256])))
        for name, fn in fronts.items():
            f = fn(mel)
            delta = (f[:, :, 1:] - f[:, :, :-1]).abs().mean(2)
            out[name].append(torch.cat([f.mean(2), f.std(2), delta], 1).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", default=str(ROOT.parent / "shared/data/ser-corpus/manifest.csv"))
    ap.add_argument("--seed", type=int, default=0, help="the `train --seed` whose validation speakers to use")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.preprocessing import StandardScaler

    from ser_live.train.augment import mix_at_snr, telephone
    from ser_live.train.data import AudioCache, default_cache_dir, read_manifest, select, speaker_split
    from ser_live.train.evaluate import corrupt_clip
    from ser_live.windows import WINDOW, cut_window

    torch.set_num_threads(2)
    cache = AudioCache(select(read_manifest(args.manifest), split="train"), default_cache_dir())
    train, val = speaker_split(cache.records, 0.15, args.seed)
    pos = {id(r): i for i, r in enumerate(cache.records)}
    labels = sorted({r.emotion for r in cache.records})

    def centre(audio: np.ndarray) -> np.ndarray:
        return cut_window(audio, (len(audio) - WINDOW) // 2)  # short clips: centred padding

    rng = np.random.default_rng(args.seed)

    def augment(audio: np.ndarray) -> np.ndarray:
        u = rng.random()
        if u < 0.35:
            return mix_at_snr(audio, rng.standard_normal(len(audio)).astype(np.float32), rng.uniform(5, 30))
        return telephone(audio) if u < 0.55 else audio

    fronts = front_ends()
    tr_waves = [centre(cache[pos[id(r)]]) for r in train]
    tr_y = np.array([labels.index(r.emotion) for r in train])
    va_y = np.array([labels.index(r.emotion) for r in val])
    print(f"{len(train)} training clips, {len(val)} validation clips; computing features", flush=True)
    tr_clean = pooled_features(tr_waves, fronts)
    tr_aug = pooled_features([augment(w) for w in tr_waves], fronts)
    va = {c: pooled_features([centre(corrupt_clip(cache[pos[id(r)]], c, 1000 + j))
                              for j, r in enumerate(val)], fronts) for c in CONDITIONS}

    results = []
    for name in fronts:
        for fitted_on, x, y in (("clean", tr_clean[name], tr_y),
                                ("clean + augmented", np.concatenate([tr_clean[name], tr_aug[name]]),
                                 np.concatenate([tr_y, tr_y]))):
            scaler = StandardScaler().fit(x)
            clf = LogisticRegression(max_iter=2000, C=0.5, class_weight="balanced").fit(scaler.transform(x), y)
            ua = {c: float(balanced_accuracy_score(va_y, clf.predict(scaler.transform(va[c][name]))))
                  for c in CONDITIONS}
            results.append({"front_end": name, "fitted_on": fitted_on, "ua": ua,
                            "mean": float(np.mean(list(ua.values())))})
    base = {r["fitted_on"]: r["mean"] for r in results if r["front_end"].endswith("(shipped)")}
    print(f"{'front end':34s} {'fitted on':18s} {'clean':>6s} {'noise10':>7s} {'phone':>6s} {'mean':>6s}  vs shipped")
    for r in results:
        u = r["ua"]
        print(f"{r['front_end']:34s} {r['fitted_on']:18s} {u['none']:6.3f} {u['noise10']:7.3f} "
              f"{u['telephone']:6.3f} {r['mean']:6.3f}  {r['mean'] / base[r['fitted_on']]:.2f}x")
    write_json(args.json, results)


if __name__ == "__main__":
    main()
