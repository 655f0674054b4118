"""The model card (`models/README.md`), rendered from model.json and the evaluation reports.

Figures in the card are never typed by hand: every number comes from a report JSON written by
`ser-live evaluate` into `<model>/reports/`, and the card quotes the command that wrote it.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ..features import PCEN_TIME_S
from ..model.net import NetConfig
from ..model.runtime import META_FILE, model_digest


def _row(name: str, rep: dict, precision: str) -> str:
    base = rep.get("baseline")
    base_ua = f"{base['ua']:.3f}" if base else "-"
    return (f"| {name} | {precision} | {rep['n']} | {rep['ua']:.3f} | {rep['wa']:.3f} | "
            f"{rep['macro_f1']:.3f} | {base_ua} |")


def _lstm_step_ms(meta: dict) -> float:
    """Time between the LSTM's steps: the feature hop times the conv blocks' time strides."""
    strides = meta["architecture"].get("time_strides", NetConfig.time_strides)
    hop = meta["features"]["hop_length"] / meta["features"]["sample_rate"]
    return round(1000.0 * hop * math.prod(strides), 1)


def _features_text(fe: dict) -> str:
    """How the model hears: the front end its metadata describes (models from before
    `compression` existed are log-mel)."""
    frame = f"{fe['win_length']}-sample window, {fe['hop_length']}-sample hop"
    if fe.get("compression", "log") == "pcen":
        return (f"{fe['n_mels']}-band mel power, {frame}, referenced to each window's peak and "
                f"compressed by PCEN (per-channel energy normalisation, {PCEN_TIME_S:g} s smoother)")
    return (f"{fe['n_mels']}-band log-mel, {frame}, gain-referenced to each window's peak and "
            f"floored {fe['top_db']:.0f} dB below it")


def _speed_text(sp: dict) -> str:
    """The card's speed paragraph, from `bench/bench_inference.py --json`."""
    def figures(r: dict) -> str:
        return (f"batch 1 median {r['batch1_median_ms']:.2f} ms, batch 32 {r['batch32_per_window_ms']:.3f} ms "
                f"per window in the classifier's chunks of {r['chunk']} "
                f"({r['batch32_one_call_per_window_ms']:.3f} ms in one call of 32)")

    here = sp["precision"]
    other = "fp32" if here == "bf16" else "bf16"
    return ("Features + model per 2 s window on one CPU thread (`.venv/bin/python bench/bench_inference.py "
            f"--json models/reports/speed.json`), in {here}, what `--precision auto` picked on the measuring "
            f"machine (bf16 on CPUs with native bfloat16, fp32 elsewhere): {figures(sp[here])}. In {other} in "
            f"the same run: {figures(sp[other])}. bf16 takes {sp['ratio_bf16_over_fp32_batch32']:.2f}x fp32's "
            f"time at batch 32 and {sp['ratio_bf16_over_fp32_batch1']:.2f}x at batch 1. The seed projects' "
            f"librosa features alone take {sp['seed_features_per_clip_ms']:.1f} ms per 3 s clip in the same run "
            f"({sp['ratio_seed_features_over_ours_batch1']:.1f}x our batch-1 time).")


def write_model_card(model_dir: Path) -> Path:
    meta = json.loads((model_dir / META_FILE).read_text())
    found = sorted((model_dir / "reports").glob("*.json")) if (model_dir / "reports").is_dir() else []
    # only this model's figures: reports of the model an export replaced (or from before
    # reports named their model) are listed apart, with the commands that would redo them
    digest = model_digest(model_dir)
    speed = model_dir / "reports" / "speed.json"
    measured = {p: rep for p in found if "ua" in (rep := json.loads(p.read_text())) or p == speed}
    stale = [p for p, rep in measured.items() if rep.get("model_sha256") != digest]
    reports = [p for p in measured if p != speed and p not in stale]
    arch, tr = meta["architecture"], meta["training"]
    commands = tr.get("commands") or [tr.get("command") or "see scripts/reproduce_model.sh"]
    lines = [
        f"# Model card: {meta['name']}",
        "",
        "Speech emotion classifier for 2 s windows of 16 kHz mono audio. "
        "`model.pt` is TorchScript with the log-mel front end inside: "
        "`torch.jit.load('model.pt')(audio)` with `audio` of shape (batch, "
        f"{meta['input']['window_samples']}) float32 in [-1, 1] returns class probabilities "
        f"in the order of `labels` in `model.json`.",
        "",
        "## Model",
        f"- Labels: {', '.join(meta['labels'])}",
        f"- Features: {_features_text(meta['features'])}, then normalised with per-band "
        "statistics of the training speakers (stored in the model).",
        f"- Network: 3 strided 2-D conv blocks (channels {arch['channels']}), projection to "
        f"{arch['proj']}, {'bi' if arch['bidirectional'] else 'uni'}directional LSTM "
        f"({arch['lstm_hidden']} units, {_lstm_step_ms(meta):g} ms steps), attention + mean "
        "pooling, linear head: "
        f"{arch['parameters']:,} parameters.",
        f"- Training: corpora {', '.join(tr['corpora'])}, {tr['n_train_clips']} clips from "
        f"{tr['n_train_speakers']} speakers; checkpoint chosen by unweighted average recall on "
        f"{len(tr['val_speakers'])} validation speakers carved from the train split "
        f"(epoch {tr['epoch']}, validation UA {tr['val_ua']:.3f}). Test speakers were never used "
        "for training, tuning or checkpoint choice.",
        f"- Augmentation: pitch (±{tr['augment']['pitch_semitones']} semitones), tempo "
        f"(±{tr['augment']['tempo_range'] * 100:.0f} %), time shift, reverberation, white/pink/brown "
        f"noise and babble at {tr['augment']['snr_db'][0]:g}-{tr['augment']['snr_db'][1]:g} dB SNR, "
        "gain, telephone band (300-3400 Hz, 8 kHz, mu-law), "
        "SpecAugment masks.",
    ]
    if (model_dir / "training_curves.png").is_file():
        lines += ["", "![training curves](training_curves.png)"]
    lines += [
        "",
        "## Results (speaker-independent `test` split)",
        "",
    ]
    if reports:
        lines += ["UA = unweighted average recall (balanced accuracy), WA = accuracy. "
                  "Baseline = the seed projects' MFCC/chroma/mel means + MLP trained on the same "
                  "train split, scored in the same run.", "",
                  "| evaluation | precision | clips | UA | WA | macro-F1 | seed baseline UA |",
                  "|---|---|---|---|---|---|---|"]
        for p in reports:
            rep = measured[p]
            lines.append(_row(p.stem, rep, rep["precision"]))
            for corpus, sub in rep.get("per_corpus", {}).items():
                lines.append(_row(f"{p.stem} / {corpus}", sub, rep["precision"]))
        lines += ["", "Reproduce each row:", "", "```"]
        lines += [measured[p].get("command", "") for p in reports]
        lines += ["```", ""]
        lines += [f"![{p.stem}](reports/{p.stem}.confusion.png)" for p in reports
                  if p.with_suffix(".confusion.png").is_file()]
    else:
        lines.append("No evaluation reports yet: run `ser-live evaluate --out models/reports/NAME.json`.")
    if speed.is_file() and speed not in stale:
        lines += ["", "## Speed", "", _speed_text(measured[speed])]
    if stale:
        lines += ["", "## Reports of another model", "",
                  f"These measured another `model.pt` than this one (sha256 {digest[:12]}), or do not "
                  "say which, so their figures are left out above; run their commands again:", ""]
        bench = f".venv/bin/python bench/bench_inference.py --model {model_dir} --json {speed}"
        lines += [f"- `reports/{p.name}`: `{measured[p].get('command') or bench}`" for p in stale]
        print(f"warning: {len(stale)} report(s) in {model_dir / 'reports'} measured another model; "
              f"the card lists them apart ({', '.join(p.name for p in stale)})", file=sys.stderr)
    lines += ["", "## Limits", "",
              "- Trained on acted English speech (RAVDESS, CREMA-D, TESS). Natural conversational "
              "emotion is subtler; expect lower figures on real calls, and treat single windows as "
              "noisy evidence: the live views smooth over several windows.",
              "- Corpus licences: RAVDESS and TESS are non-commercial (TESS also no-derivatives); "
              "CREMA-D is ODbL. Check them before commercial use of this model.",
              "", "Trained with" + (" (each command builds on the best checkpoint of the one "
                                    "before, fine-tuning it with `--init` or distilling it with "
                                    "`--teacher`):" if len(commands) > 1 else ":"), "",
              "```", *commands, "```",
              "", f"Exported with: `{meta.get('export_command', '')}`", ""]
    card = model_dir / "README.md"
    card.write_text("\n".join(lines))
    return card
