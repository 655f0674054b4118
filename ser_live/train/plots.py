"""Figures for training runs and the corpus report, written as PNG files.

matplotlib is imported inside each function with the Agg backend, so importing this module
costs nothing and plotting works on machines without a display. Figures are saved at a fixed
size (no tight bounding box) so they read the same in every report, and are always closed:
a long sweep that plots every epoch must not accumulate open figures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..labels import COLORS

#: Dots per inch of every saved figure; figure sizes below are in inches.
DPI = 110


def _pyplot():
    """pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, tight: bool = False) -> Path:
    """`tight` crops to the drawn content, for figures whose long tick labels the layout clips."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight" if tight else None)
    _pyplot().close(fig)
    return path


def plot_confusion(confusion: np.ndarray, labels: Sequence[str], path: Path, title: str) -> Path:
    """Confusion matrix coloured by per-class recall (row-normalised), annotated with counts.

    Colours by recall so that a small class's errors are as visible as a large one's; the raw
    counts stay printed so nobody mistakes a 2-clip row for solid evidence.
    """
    plt = _pyplot()
    cm = np.asarray(confusion, dtype=np.int64)
    n = len(labels)
    totals = cm.sum(axis=1, keepdims=True)
    recall = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=float), where=totals > 0)
    side = max(5.0, 0.85 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), layout="constrained")
    im = ax.imshow(recall, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="recall (row share)")
    for i in range(n):
        for j in range(n):
            colour = "white" if recall[i, j] > 0.55 else "black"
            ax.text(j, i, f"{cm[i, j]}\n{recall[i, j]:.0%}" if totals[i, 0] else "0",
                    ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), [f"{lbl} ({totals[k, 0]})" for k, lbl in enumerate(labels)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (clips)")
    ax.set_title(title)
    return _save(fig, path, tight=True)


def plot_curves(history: Sequence[Mapping[str, float]], path: Path) -> Path:
    """Training curves: losses in one panel, validation UA/WA in the other, best UA marked.

    The best-UA epoch is the checkpoint that gets kept, so it is marked on both panels to show
    whether it sits before or after the validation loss turns up.
    """
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    ax_loss.plot(epochs, [row["train_loss"] for row in history], label="train loss")
    ax_loss.plot(epochs, [row["val_loss"] for row in history], label="val loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.set_title("loss")
    ax_acc.plot(epochs, [row["val_ua"] for row in history], label="val UA (mean recall)")
    ax_acc.plot(epochs, [row["val_wa"] for row in history], label="val WA (accuracy)")
    if any("val_ua_raw" in row for row in history):  # `train --ema`: what the average adds
        ax_acc.plot(epochs, [row.get("val_ua_raw", float("nan")) for row in history], ":",
                    label="val UA, weights without the average")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylim(0.0, 1.0)
    ax_acc.set_title("validation accuracy")
    if history:
        best = max(history, key=lambda row: row["val_ua"])
        for ax in (ax_loss, ax_acc):
            ax.axvline(best["epoch"], color="gray", linestyle=":",
                       label=f"best UA {best['val_ua']:.3f} @ {best['epoch']} (lr {best['lr']:.2g})")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _emotion_colour(emotion: str) -> str:
    return COLORS.get(emotion, "#607d8b")


def plot_emotion_counts(counts: Mapping[str, int], path: Path, title: str) -> Path:
    """Clips per emotion, one bar per emotion in its product colour."""
    plt = _pyplot()
    names = list(counts)
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    bars = ax.bar(names, [counts[k] for k in names], color=[_emotion_colour(k) for k in names],
                  edgecolor="black", linewidth=0.5)
    ax.bar_label(bars, fontsize=8)
    ax.set_ylabel("clips")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    return _save(fig, path)


def plot_stacked_counts(counts: Mapping[str, Mapping[str, int]], emotions: Sequence[str],
                        path: Path, title: str, xlabel: str) -> Path:
    """Clips per group (corpus, gender, split), each bar stacked by emotion.

    Stacking shows at a glance which emotions a group lacks (CREMA-D has no calm or surprised).
    """
    plt = _pyplot()
    groups = list(counts)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) + 3.5), 5), layout="constrained")
    bottom = np.zeros(len(groups))
    for emotion in emotions:
        heights = np.array([counts[g].get(emotion, 0) for g in groups], dtype=float)
        ax.bar(groups, heights, bottom=bottom, color=_emotion_colour(emotion), label=emotion,
               edgecolor="black", linewidth=0.3)
        bottom += heights
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{int(total)}", ha="center", va="bottom", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("clips")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def plot_durations(durations: Mapping[str, Sequence[float]], path: Path, title: str) -> Path:
    """Histogram of clip durations (seconds), one outline per corpus on shared bins."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    every = np.concatenate([np.asarray(v, dtype=float) for v in durations.values()] or [np.zeros(0)])
    if every.size:
        bins = np.linspace(0.0, float(every.max()) + 1e-3, 50)
        for corpus, values in durations.items():
            values = np.asarray(values, dtype=float)
            ax.hist(values, bins=bins, histtype="step", linewidth=1.5,
                    label=f"{corpus} (n={values.size}, median {np.median(values):.2f} s)")
        ax.legend(fontsize=8)
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("clips")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_examples(examples: Sequence[tuple[str, str, np.ndarray, np.ndarray]], sample_rate: int,
                  hop_length: int, path: Path) -> Path:
    """One row per emotion: waveform and log-mel (dB below the clip's peak) of an example clip.

    `examples` holds (emotion, caption, waveform, log-mel in dB (n_mels, frames)).
    """
    plt = _pyplot()
    rows = max(1, len(examples))
    fig, axes = plt.subplots(rows, 2, figsize=(13, 1.9 * rows + 0.6), squeeze=False,
                             layout="constrained", gridspec_kw={"width_ratios": (1, 1.3)})
    for (emotion, caption, wave, logmel_db), (ax_w, ax_m) in zip(examples, axes):
        t = np.arange(wave.size) / sample_rate
        ax_w.plot(t, wave, color=_emotion_colour(emotion), linewidth=0.5)
        ax_w.set_xlim(0.0, max(t[-1] if t.size else 0.0, 1e-3))
        peak = float(np.abs(wave).max()) if wave.size else 0.0
        ax_w.set_ylim(-max(peak, 1e-4) * 1.05, max(peak, 1e-4) * 1.05)  # quiet corpora stay visible
        ax_w.set_ylabel(emotion, color=_emotion_colour(emotion), fontweight="bold")
        ax_w.set_title(caption, fontsize=8, loc="left")
        im = ax_m.imshow(logmel_db, origin="lower", aspect="auto", cmap="magma",
                         extent=(0.0, logmel_db.shape[1] * hop_length / sample_rate,
                                 0, logmel_db.shape[0]))
        ax_m.set_ylabel("mel bin")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    if examples:
        fig.colorbar(im, ax=axes[:, 1], label="dB below peak", shrink=0.6)
    fig.suptitle("example clip per emotion: waveform and log-mel")
    return _save(fig, path)
