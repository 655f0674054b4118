"""Run a shipped model: TorchScript file + metadata JSON, on CPU or CUDA, in batches.

The model file is self-contained (features inside), so this module needs only torch and
numpy at run time; training code is never imported here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..windows import DEFAULT_HOP_S, WINDOW, clip_windows

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models"
MODEL_FILE = "model.pt"
META_FILE = "model.json"

WindowPredictor = Callable[[np.ndarray], np.ndarray]


class ModelError(Exception):
    """A model folder that cannot be loaded; one line naming the file."""


def model_digest(model_dir: str | Path) -> str:
    """sha256 of the folder's model.pt. Reports and benchmarks record the digest of the model
    they measured, so that a model card never quotes another model's figures (a new export
    into a folder keeps the reports of the model it replaced). Export is deterministic: the
    same checkpoint gives the same digest."""
    import hashlib

    with open(Path(model_dir) / MODEL_FILE, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def pick_device(device: str = "auto") -> str:
    """'auto' means CUDA when torch sees a GPU, else CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda: no CUDA device is available")
    return device


PRECISIONS = ("auto", "fp32", "bf16")


def pick_precision(precision: str = "auto", device: str = "cpu") -> str:
    """'auto' means bf16 on a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX), fp32
    elsewhere. There bf16 takes about 0.8x fp32's time per window at batch 32 with the same
    validation UA (`bench/bench_inference.py` times both in one run; the model card has both
    accuracies); other CPUs would emulate bf16 in software, and GPUs are fast enough in fp32."""
    if precision not in PRECISIONS:
        raise ModelError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device != "cpu":
        return "fp32"
    import torch

    native = [getattr(torch.cpu, f, None) for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return "bf16" if any(f is not None and f() for f in native) else "fp32"


#: On CPU, batches run this many windows per model call. In fp32 the cost per window is lowest
#: near 8, where a call's spectrograms and activations still fit in the core's caches (one call
#: of 32 took 0.95-1.5x as long, depending on the host's load); bf16 activations take half the
#: room, and 32 is fastest (bench/bench_inference.py prints both ways in one run).
CPU_CHUNK = {"fp32": 8, "bf16": 32}


class Classifier:
    """Emotion probabilities for 2 s windows of 16 kHz mono float32 audio."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "auto",
                 threads: int | None = None, precision: str = "auto") -> None:
        """`threads` sets torch's CPU threads for the process; one is fastest for the small
        batches of live monitoring on a machine that also runs capture and VAD. `precision`
        is the arithmetic of the network (see `pick_precision`); the output is float32."""
        import torch

        if threads:
            torch.set_num_threads(threads)

        folder = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
        for p in (meta_path, model_path):
            if not p.is_file():
                raise ModelError(f"{p}: model file not found")
        try:
            self.meta: dict = json.loads(meta_path.read_text())
            self.labels: list[str] = list(self.meta["labels"])
        except (ValueError, KeyError) as exc:
            raise ModelError(f"{meta_path}: invalid model metadata ({exc})") from None
        self.device = pick_device(device)
        self.precision = pick_precision(precision, self.device)
        try:
            self.module = torch.jit.load(str(model_path), map_location=self.device).eval()
        except Exception as exc:
            raise ModelError(f"{model_path}: cannot load TorchScript model ({exc})") from None
        self._torch = torch
        # TorchScript's profiling executor optimises on the first calls: do them now, not
        # on the first live window
        for _ in range(2):
            self.predict_windows(np.zeros((1, WINDOW), dtype=np.float32))

    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        """(n, WINDOW) float32 -> (n, n_labels) probabilities."""
        if windows.ndim != 2 or windows.shape[1] != WINDOW:
            raise ValueError(f"expected windows of shape (n, {WINDOW}), got {windows.shape}")
        torch = self._torch
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast(self.device, dtype=torch.bfloat16, enabled=bf16):
            x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(self.device)
            step = CPU_CHUNK[self.precision] if self.device == "cpu" else max(len(x), 1)
            chunks = [x[s:s + step] for s in range(0, len(x), step)] or [x]
            probs = torch.cat([self.module(c).float() for c in chunks]).cpu().numpy()
        if bf16:  # models exported before the float32 softmax take it in bf16: renormalise
            probs = probs / probs.sum(-1, keepdims=True)
        return probs

    def predict_clip(self, audio: np.ndarray, hop_s: float = DEFAULT_HOP_S) -> np.ndarray:
        """Mean window probabilities over a whole clip."""
        return clip_probabilities(self.predict_windows, [audio], hop_s)[0]


def clip_probabilities(predict: WindowPredictor, clips: Sequence[np.ndarray],
                       hop_s: float = DEFAULT_HOP_S, batch_size: int = 64,
                       progress: bool = False) -> np.ndarray:
    """(n_clips, n_labels): each clip's windows classified in batches, probabilities averaged."""
    from tqdm import tqdm

    windows, owner = [], []
    for i, clip in enumerate(clips):
        w = clip_windows(clip, hop_s)
        windows.append(w)
        owner.extend([i] * len(w))
    allw = np.concatenate(windows)
    owner_arr = np.asarray(owner)
    probs = np.concatenate([predict(allw[s:s + batch_size])
                            for s in tqdm(range(0, len(allw), batch_size), desc="classifying",
                                          unit="batch", disable=not progress)])
    out = np.zeros((len(clips), probs.shape[1]), dtype=np.float64)
    np.add.at(out, owner_arr, probs)
    return out / np.bincount(owner_arr, minlength=len(clips))[:, None]
