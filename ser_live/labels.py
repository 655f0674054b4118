"""The unified emotion label set and everything every view derives from it.

One table here so the CLI, the JSON events, the dashboard, the overlay and the browser page
all agree on names, order, colours and the valence/arousal reading of a prediction.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

#: The unified label set, in the model's output order for a model trained on all of them.
LABELS: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised",
)

#: One colour per emotion (hex), used by every view of the product.
COLORS: dict[str, str] = {
    "neutral": "#9e9e9e",
    "calm": "#4db6ac",
    "happy": "#fdd835",
    "sad": "#1e88e5",
    "angry": "#e53935",
    "fearful": "#8e24aa",
    "disgust": "#6d8b3a",
    "surprised": "#fb8c00",
}

#: Circumplex coordinates (valence, arousal) in [-1, 1] per class, after Russell (1980) and
#: the usual placement of the acted-corpus categories. The continuous scores of a prediction
#: are the probability-weighted mean of these points, so they move smoothly between classes.
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "calm": (0.4, -0.6),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.5),
    "angry": (-0.7, 0.8),
    "fearful": (-0.6, 0.6),
    "disgust": (-0.6, 0.3),
    "surprised": (0.4, 0.8),
}

#: The seed projects' 3-class valence view.
VALENCE3_GROUPS: dict[str, tuple[str, ...]] = {
    "negative": ("sad", "angry", "fearful", "disgust"),
    "neutral": ("neutral", "calm"),
    "positive": ("happy", "surprised"),
}
VALENCE3: tuple[str, ...] = tuple(VALENCE3_GROUPS)
NEGATIVE: frozenset[str] = frozenset(VALENCE3_GROUPS["negative"])

#: Aliases accepted when reading labels from manifests or native corpus file names.
ALIASES: dict[str, str] = {
    "neu": "neutral", "neutral": "neutral",
    "cal": "calm", "calm": "calm",
    "hap": "happy", "happy": "happy", "happiness": "happy", "joy": "happy",
    "sad": "sad", "sadness": "sad",
    "ang": "angry", "angry": "angry", "anger": "angry",
    "fea": "fearful", "fear": "fearful", "fearful": "fearful",
    "dis": "disgust", "disgust": "disgust",
    "sur": "surprised", "surprise": "surprised", "surprised": "surprised", "ps": "surprised",
}


class UnknownLabelError(ValueError):
    """A label that is not in the unified set and has no alias."""


def normalize_label(name: str) -> str:
    """Map a corpus' spelling of an emotion onto the unified set, or raise UnknownLabelError."""
    key = name.strip().lower()
    if key not in ALIASES:
        raise UnknownLabelError(f"unknown emotion label {name!r}; known: {', '.join(LABELS)}")
    return ALIASES[key]


def valence3(probs: Mapping[str, float]) -> dict[str, float]:
    """Collapse class probabilities into negative / neutral / positive (sums to 1)."""
    out = {g: sum(float(probs.get(lbl, 0.0)) for lbl in members)
           for g, members in VALENCE3_GROUPS.items()}
    total = sum(out.values()) or 1.0
    return {g: v / total for g, v in out.items()}


def arousal_valence(probs: Mapping[str, float]) -> tuple[float, float]:
    """Probability-weighted (arousal, valence) in [-1, 1] from class probabilities."""
    total = sum(float(p) for lbl, p in probs.items() if lbl in CIRCUMPLEX) or 1.0
    val = sum(float(p) * CIRCUMPLEX[lbl][0] for lbl, p in probs.items() if lbl in CIRCUMPLEX)
    aro = sum(float(p) * CIRCUMPLEX[lbl][1] for lbl, p in probs.items() if lbl in CIRCUMPLEX)
    return aro / total, val / total


def derived_views(labels: Sequence[str], probs: np.ndarray) -> dict:
    """Everything a prediction carries besides its argmax: the 3-class view and the scores.

    `probs` is one probability vector aligned with `labels`.
    """
    pmap = {lbl: float(p) for lbl, p in zip(labels, probs)}
    arousal, valence = arousal_valence(pmap)
    return {"valence3": valence3(pmap), "arousal": arousal, "valence": valence}
