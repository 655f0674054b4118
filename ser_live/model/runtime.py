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


def pick_device(device: str = "auto") -> str:
    """'auto' means CUDA when torch sees a GPU, else CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda: no CUDA device is available")
    return device


#: On CPU, batches run this many windows per model call: the cost per window is lowest near 8,
#: where a call's spectrograms and activations still fit in the core's caches; at 32 it is
#: about 1.5 times higher (bench/bench_inference.py prints both in one run).
CPU_CHUNK = 8


class Classifier:
    """Emotion probabilities for 2 s windows of 16 kHz mono float32 audio."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "auto",
                 threads: int | None = None) -> None:
        """`threads` sets torch's CPU threads for the process; one is fastest for the small
        batches of live monitoring on a machine that also runs capture and VAD."""
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
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(self.device)
            step = CPU_CHUNK if self.device == "cpu" else max(len(x), 1)
            chunks = [x[s:s + step] for s in range(0, len(x), step)] or [x]
            return np.concatenate([self.module(c).float().cpu().numpy() for c in chunks])

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
