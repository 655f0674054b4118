"""ser-live: real-time speech emotion monitor.

The public API is small and lazy: importing the package does not import torch.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Classifier", "LABELS", "load_audio", "__version__"]


def __getattr__(name: str):
    if name == "Classifier":
        from .model.runtime import Classifier

        return Classifier
    if name == "LABELS":
        from .labels import LABELS

        return LABELS
    if name == "load_audio":
        from .audio.io import load_audio

        return load_audio
    raise AttributeError(name)
