"""`ser-live train`: seeded, resumable-by-checkpoint training with early stopping.

Early stopping and checkpoint choice look only at validation speakers carved out of the
training split; test speakers are never loaded here.
"""
from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..labels import LABELS
from ..model.net import EmotionNet, NetConfig, count_parameters, net_from_checkpoint
from ..model.runtime import clip_probabilities
from .augment import (AugmentConfig, SpecAugment, WaveAugment, add_white_noise, consistency_loss,
                      random_crop)
from .data import AudioCache, ClipRecord, label_counts, speaker_split
from .metrics import scores

#: the checkpoints of a run folder: the best epoch on the validation speakers, and the latest
BEST, LAST = "best.pt", "last.pt"


@dataclass
class TrainConfig:
    out_dir: Path
    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    patience: int = 10
    seed: int = 0
    #: seed of the validation speakers' draw (None: `seed`); set apart so that several seeds of
    #: one recipe are compared on the same speakers, where seed noise alone is measured
    split_seed: int | None = None
    val_fraction: float = 0.15
    workers: int = 1
    threads: int | None = None
    device: str = "auto"
    samples_per_epoch: int | None = None  # default: the number of training clips
    init: Path | None = None  # fine-tune from this checkpoint's weights instead of from scratch
    #: weight of the clean/noisy-view agreement loss (0: off); each batch then also trains on
    #: a copy with white noise, and the two views' predictions are pulled together
    noise_consistency: float = 0.0
    #: a finished run's checkpoint to distil from (same split seed and data); its soft predictions on
    #: each augmented batch join the labels as targets, so a smaller or faster net can learn
    #: what a bigger one learned
    teacher: Path | None = None
    distill: float = 0.5  # weight of the teacher's targets against the labels' (with a teacher)
    #: "class": every emotion equally often; "class-speaker": also, within an emotion, every
    #: speaker equally often, so a corpus of two voices (TESS) cannot fill a third of the draws
    sampling: str = "class"
    #: decay of an exponential moving average of the weights (0: off); validation, early
    #: stopping and checkpoints then use the average, which moves less from epoch to epoch
    #: than the weights the optimiser is at, so the pick depends less on one lucky epoch
    ema: float = 0.0
    #: Beta(a, a) parameter of mixup on the network's input (0: off): each batch also mixes
    #: every window's normalised log-mel with another window's, labels in the same proportion
    mixup: float = 0.0
    net: NetConfig = field(default_factory=NetConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    progress: bool = True


SAMPLING = ("class", "class-speaker")


def sampling_weights(y: np.ndarray, speakers: Sequence[str], mode: str = "class") -> np.ndarray:
    """Draw weight of each training clip: every emotion gets the same share of the draws and,
    with "class-speaker", every speaker who acted an emotion the same share of that emotion's."""
    if mode not in SAMPLING:
        raise ValueError(f"sampling: unknown mode {mode!r} (one of {', '.join(SAMPLING)})")
    if mode == "class":
        return 1.0 / np.bincount(y)[y]
    cells = Counter(zip(y.tolist(), speakers))
    voices = Counter(label for label, _ in cells)
    return np.array([1.0 / (cells[(label, spk)] * voices[label])
                     for label, spk in zip(y.tolist(), speakers)])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def warmup_cosine(total_steps: int, warmup_fraction: float = 0.05):
    """LR factor: linear warm-up, then cosine decay to zero at `total_steps`."""
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + np.cos(np.pi * min(1.0, (step - warmup) / max(1, total_steps - warmup))))

    return factor


class AugmentedWindows(Dataset):
    """Item k of epoch e: the clip at order[k], augmented with a generator seeded by (seed, e, k).

    Seeding by position rather than by worker makes an epoch identical whatever the number
    of loader workers, so training is reproducible.
    """

    def __init__(self, cache: AudioCache, indices: np.ndarray, targets: np.ndarray,
                 weights: np.ndarray, augment: WaveAugment, seed: int) -> None:
        self.cache, self.indices, self.targets = cache, indices, targets
        self.weights = weights / weights.sum()
        self.augment, self.seed = augment, seed
        self.order = indices
        self.epoch = 0

    def set_epoch(self, epoch: int, n: int) -> None:
        """Class-balanced draw (with replacement) of this epoch's clips."""
        rng = np.random.default_rng([self.seed, epoch, 1])
        self.order = rng.choice(len(self.indices), size=n, p=self.weights)
        self.epoch = epoch

    def babble(self, rng: np.random.Generator) -> np.ndarray:
        return self.cache[int(self.indices[rng.integers(len(self.indices))])]

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, k: int):
        j = int(self.order[k])
        rng = np.random.default_rng([self.seed, self.epoch, k])
        wave, pitch = self.augment(self.cache[int(self.indices[j])], rng)
        return torch.from_numpy(wave), torch.tensor(pitch, dtype=torch.float32), int(self.targets[j])


def feature_stats(model: EmotionNet, cache: AudioCache, indices: np.ndarray, seed: int,
                  n: int = 3000) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mel-bin mean/std of clean raw features over random crops of training clips."""
    rng = np.random.default_rng([seed, 7])
    pick = rng.choice(indices, size=min(n, len(indices)), replace=False)
    sums = torch.zeros(model.features.mean.shape[0])
    sq = torch.zeros_like(sums)
    count = 0
    with torch.no_grad():
        for s in range(0, len(pick), 256):
            batch = np.stack([random_crop(cache[int(i)], rng) for i in pick[s:s + 256]])
            raw = model.features.raw(torch.from_numpy(batch))  # (B, M, T)
            sums += raw.sum(dim=(0, 2))
            sq += raw.square().sum(dim=(0, 2))
            count += raw.shape[0] * raw.shape[2]
    mean = sums / count
    return mean, (sq / count - mean.square()).clamp_min(0).sqrt()


#: softmax temperature of distillation: softer targets carry the teacher's second choices
DISTILL_TEMPERATURE = 2.0


def read_run_checkpoint(path: Path, labels: Sequence[str], val_speakers: Sequence[str],
                        option: str) -> dict:
    """A finished run's checkpoint that this run builds on (`--init` or `--teacher`).

    The checkpoint must have been validated on the same speakers as this run (same split seed
    and data): otherwise this run's validation speakers could include ones its weights were
    trained on, and the checkpoint choice would be biased.
    """
    from .data import DataError

    if not path.is_file():
        raise DataError(f"{path}: {option} checkpoint not found")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if list(ckpt["labels"]) != list(labels):
        raise DataError(f"{path}: {option} checkpoint has labels {', '.join(ckpt['labels'])}, "
                        f"this data has {', '.join(labels)}")
    if sorted(ckpt["val_speakers"]) != list(val_speakers):
        split_seed = ckpt.get("split_seed", ckpt["seed"])  # checkpoints from before --split-seed
        raise DataError(f"{path}: {option} checkpoint was validated on other speakers; train on "
                        f"the same data with --seed {split_seed} (or --split-seed {split_seed})")
    return ckpt


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL divergence from the teacher's softened predictions (Hinton et al., 2015).

    Scaled by T^2 so its gradients keep the size of the label loss's whatever the temperature.
    """
    t = DISTILL_TEMPERATURE
    return F.kl_div(F.log_softmax(student_logits / t, -1), F.log_softmax(teacher_logits / t, -1),
                    reduction="batchmean", log_target=True) * t * t


Mix = tuple[float, torch.Tensor]  # mixup's weight of each window itself, and its partners


def mixed_cross_entropy(logits: torch.Tensor, y: torch.Tensor, mix: Mix | None,
                        smoothing: float) -> torch.Tensor:
    """Label loss of a batch, mixed like its inputs were (Zhang et al., 2018)."""
    loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
    if mix is None:
        return loss
    lam, partner = mix
    return lam * loss + (1.0 - lam) * F.cross_entropy(logits, y[partner], label_smoothing=smoothing)


def evaluate_clips(model: EmotionNet, clips: Sequence[np.ndarray], targets: np.ndarray,
                   labels: Sequence[str], device: str) -> dict:
    """Clip-level scores (mean of window probabilities) and the clip NLL."""
    model.eval()

    def predict(w: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(w).to(device)), -1).cpu().numpy()

    probs = clip_probabilities(predict, clips, batch_size=128)
    out = scores(targets, probs.argmax(1), labels)
    out["loss"] = float(-np.log(probs[np.arange(len(targets)), targets] + 1e-9).mean())
    return out


def train(records: Sequence[ClipRecord], cfg: TrainConfig, cache_dir: Path | None,
          command: str = "") -> dict:
    """Train on `records` (all from the train split); returns the best validation scores."""
    from tqdm import tqdm

    from .plots import plot_curves

    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else (
        "cpu" if cfg.device == "auto" else cfg.device)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    cache = AudioCache(records, cache_dir, progress=cfg.progress)
    if cache.failed:
        print(f"skipped {len(cache.failed)} unreadable file(s) of {len(records)}")
    split_seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    train_recs, val_recs = speaker_split(cache.records, cfg.val_fraction, split_seed)
    present = set(label_counts(cache.records))
    labels = [lbl for lbl in LABELS if lbl in present]
    lab_idx = {lbl: i for i, lbl in enumerate(labels)}
    pos = {id(r): i for i, r in enumerate(cache.records)}
    tr_idx = np.array([pos[id(r)] for r in train_recs])
    va_idx = np.array([pos[id(r)] for r in val_recs])
    tr_y = np.array([lab_idx[r.emotion] for r in train_recs])
    va_y = np.array([lab_idx[r.emotion] for r in val_recs])
    weights = sampling_weights(tr_y, [r.speaker for r in train_recs], cfg.sampling)
    print(f"train: {len(train_recs)} clips, {len({r.speaker for r in train_recs})} speakers; "
          f"validation: {len(val_recs)} clips, {len({r.speaker for r in val_recs})} speakers; "
          f"labels: {', '.join(labels)}")

    net_cfg = NetConfig(**{**asdict(cfg.net), "n_classes": len(labels),
                           "features": cfg.net.features})
    val_speakers = sorted({r.speaker for r in val_recs})
    if cfg.init:
        init = read_run_checkpoint(Path(cfg.init), labels, val_speakers, "--init")
        net_cfg = NetConfig.from_dict(init["net"])
        model = net_from_checkpoint(init)
    else:
        model = EmotionNet(net_cfg)
        model.features.set_stats(*feature_stats(model, cache, tr_idx, cfg.seed))
    model.to(device)
    print(f"model: {count_parameters(model):,} parameters, device {device}")
    teacher = None
    if cfg.teacher:
        teacher = net_from_checkpoint(read_run_checkpoint(Path(cfg.teacher), labels, val_speakers,
                                                          "--teacher"))
        teacher.to(device).eval().requires_grad_(False)
        print(f"teacher: {cfg.teacher} ({count_parameters(teacher):,} parameters), "
              f"distillation weight {cfg.distill}")

    dataset = AugmentedWindows(cache, tr_idx, tr_y, weights,
                               WaveAugment(cfg.augment, babble=None), cfg.seed)
    dataset.augment.babble = dataset.babble
    spec_aug = SpecAugment(cfg.augment, model.features.silence)
    n_per_epoch = cfg.samples_per_epoch or len(tr_idx)
    steps = cfg.epochs * (n_per_epoch // cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(max(steps, 1)))
    ema = None
    if cfg.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        # batch-norm running statistics are averaged along with the weights, not re-estimated
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
    val_clips = [cache[int(i)] for i in va_idx]
    history: list[dict] = []
    best, best_ua, stale = None, -1.0, 0
    meta = {"labels": labels, "net": net_cfg.to_dict(), "seed": cfg.seed, "split_seed": split_seed,
            "command": command, "augment": asdict(cfg.augment), "init": str(cfg.init or ""),
            "noise_consistency": cfg.noise_consistency, "sampling": cfg.sampling,
            "teacher": str(cfg.teacher or ""), "distill": cfg.distill if cfg.teacher else 0.0,
            "ema": cfg.ema, "mixup": cfg.mixup,
            "train_speakers": sorted({r.speaker for r in train_recs}),
            "val_speakers": val_speakers,
            "n_train": len(train_recs), "n_val": len(val_recs),
            "corpora": sorted({r.corpus for r in cache.records})}
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.time()
        dataset.set_epoch(epoch, n_per_epoch)
        loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False, drop_last=True,
                            num_workers=cfg.workers)
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        mix_rng = np.random.default_rng([cfg.seed, epoch, 2])
        model.train()
        total, seen = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=not cfg.progress)
        for wave, pitch, y in bar:
            views = [wave]
            if cfg.noise_consistency:
                views.append(add_white_noise(wave, cfg.augment.consistency_snr_db, gen))
            mix: Mix | None = None
            if cfg.mixup:
                mix = (float(mix_rng.beta(cfg.mixup, cfg.mixup)),
                       torch.randperm(len(y), generator=gen).to(device))
            logits = []
            for view in views:
                with torch.no_grad():
                    raw = spec_aug(model.features.raw(view.to(device)).cpu(), pitch, gen).to(device)
                feats = model.features.normalize(raw)
                if mix is not None:
                    feats = mix[0] * feats + (1.0 - mix[0]) * feats[mix[1]]
                logits.append(model.classify(feats))
            y = y.to(device)
            loss = sum(mixed_cross_entropy(lg, y, mix, cfg.label_smoothing) for lg in logits) / len(logits)
            if teacher is not None:
                # the teacher hears the augmented window but not the SpecAugment masks; every
                # view (the noisy one too) is pulled towards what it makes of that window
                with torch.no_grad():
                    target = teacher(wave.to(device))
                kd = sum(distillation_loss(lg, target) for lg in logits) / len(logits)
                loss = (1.0 - cfg.distill) * loss + cfg.distill * kd
            if cfg.noise_consistency:
                loss = loss + cfg.noise_consistency * consistency_loss(*logits)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            total += loss.item() * len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        chosen = model if ema is None else ema.module
        val = evaluate_clips(chosen, val_clips, va_y, labels, device) if len(va_idx) else {
            "ua": 0.0, "wa": 0.0, "loss": 0.0}
        row = {"epoch": epoch, "train_loss": total / max(seen, 1), "val_loss": val["loss"],
               "val_ua": val["ua"], "val_wa": val["wa"], "lr": sched.get_last_lr()[0]}
        if ema is not None and len(va_idx):
            # the optimiser's own weights, scored too, show what the average adds
            row["val_ua_raw"] = evaluate_clips(model, val_clips, va_y, labels, device)["ua"]
        row["seconds"] = time.time() - t0
        history.append(row)
        raw_note = f"  (weights without the average: {row['val_ua_raw']:.3f})" if "val_ua_raw" in row else ""
        print(f"epoch {epoch}: train loss {row['train_loss']:.3f}  val loss {row['val_loss']:.3f}  "
              f"val UA {row['val_ua']:.3f}  WA {row['val_wa']:.3f}{raw_note}  ({row['seconds']:.0f} s)")
        ckpt = {"model": chosen.state_dict(), "epoch": epoch, "val": val, **meta}
        torch.save(ckpt, out / LAST)
        if not len(va_idx) or val["ua"] > best_ua:
            # with no validation speakers (e.g. only TESS) the latest epoch is the best guess
            best_ua, best, stale = val["ua"], row, 0
            torch.save(ckpt, out / BEST)
        else:
            stale += 1
        (out / "history.json").write_text(json.dumps(history, indent=1))
        plot_curves(history, out / "curves.png")
        if stale >= cfg.patience:
            print(f"early stop: validation UA has not improved for {cfg.patience} epochs")
            break
    print(f"best epoch {best['epoch']}: validation UA {best['val_ua']:.3f}; checkpoint {out / BEST}")
    return {"best": best, "history": history, "skipped": len(cache.failed)}
