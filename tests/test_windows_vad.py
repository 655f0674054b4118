"""2 s analysis windows, WebRTC speech trimming and the label table."""
from __future__ import annotations

import numpy as np
import pytest

import synth
from ser_live.labels import (CIRCUMPLEX, COLORS, LABELS, VALENCE3, UnknownLabelError,
                             arousal_valence, derived_views, normalize_label, valence3)
from ser_live.vad import trim_to_speech
from ser_live.windows import WINDOW, clip_windows, cut_window, window_starts

SR = 16_000
HOP = 8000  # the default 0.5 s hop


def ramp(n: int) -> np.ndarray:
    """Distinct non-zero values, so any misplaced sample shows."""
    return (np.arange(1, n + 1) / (n + 1)).astype(np.float32)


# --- windows ---------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "expected"), [
    (16000, [-8000]),                     # 1 s: centred, 0.5 s padding each side
    (1, [-15999]),
    (31999, [0]),                         # odd shortfall rounds the start toward 0
    (32000, [0]),                         # exact: one window, no padding
    (32001, [0]),                         # a 1-sample tail is not worth a window
    (48000, [0, 8000, 16000]),            # hop lands exactly on the end: no duplicate
    (50000, [0, 8000, 16000]),            # tail of 2000 < hop/2: inside the last window's reach
    (52000, [0, 8000, 16000, 20000]),     # tail of hop/2: one more window, aligned to the end
    (54321, [0, 8000, 16000, 22321]),
])
def test_window_starts(n: int, expected: list[int]) -> None:
    assert window_starts(n, HOP) == expected


def test_short_clip_is_centred_with_zero_padding() -> None:
    audio = ramp(16000)
    w = clip_windows(audio)
    assert w.shape == (1, WINDOW) and w.dtype == np.float32
    assert np.array_equal(w[0, 8000:24000], audio)
    assert not w[0, :8000].any() and not w[0, 24000:].any()


def test_exact_clip_is_one_unpadded_window() -> None:
    audio = ramp(WINDOW)
    w = clip_windows(audio)
    assert w.shape == (1, WINDOW)
    assert np.array_equal(w[0], audio)


def test_long_clip_hops_and_ends_on_the_last_sample() -> None:
    audio = ramp(54321).astype(np.float64)  # float64 in, float32 out
    w = clip_windows(audio, hop_s=0.5)
    assert w.dtype == np.float32 and w.shape == (4, WINDOW)
    for row, start in zip(w, [0, 8000, 16000, 22321]):
        np.testing.assert_array_equal(row, audio[start:start + WINDOW].astype(np.float32))
    np.testing.assert_array_equal(w[-1], audio[-WINDOW:].astype(np.float32))
    covered = np.zeros(len(audio), bool)
    for s in window_starts(len(audio), HOP):
        covered[max(s, 0):s + WINDOW] = True
    assert covered.all()


@pytest.mark.parametrize("n", range(WINDOW + 1, WINDOW + 3 * HOP, 997))
def test_uncovered_tail_is_under_half_a_hop(n: int) -> None:
    starts = window_starts(n, HOP)
    assert starts[0] == 0 and all(b > a for a, b in zip(starts, starts[1:]))
    assert all(0 < b - a <= HOP for a, b in zip(starts, starts[1:]))
    assert starts[-1] + WINDOW <= n
    assert n - (starts[-1] + WINDOW) < HOP // 2


def test_other_hop() -> None:
    w = clip_windows(ramp(40000), hop_s=0.25)
    assert [int(round(r[0] * 40001)) - 1 for r in w] == window_starts(40000, 4000)
    assert window_starts(40000, 4000) == [0, 4000, 8000]


def test_cut_window_pads_both_ends() -> None:
    audio = ramp(1000)
    w = cut_window(audio, -10, window=1020)
    assert w.dtype == np.float32 and len(w) == 1020
    assert np.array_equal(w[10:1010], audio)
    assert not w[:10].any() and not w[1010:].any()


# --- VAD -------------------------------------------------------------------------------

@pytest.mark.parametrize("noise", [0.0, 1e-3], ids=["digital-silence", "room-noise-60dB"])
def test_trim_to_speech_cuts_the_silence(speech: np.ndarray, noise: float) -> None:
    """espeak speech with 1 s of silence each side comes back as the speech plus the 0.2 s
    margin, within 0.3 s, and keeps all of the speech. Recorded "silence" is never digital
    zero: a -60 dBFS noise floor (quiet room, acted corpora) must not defeat the trimming."""
    clip = synth.pad(speech, 1.0, 1.0, noise=noise)
    trimmed = trim_to_speech(clip)
    assert np.shares_memory(trimmed, clip)  # a slice, not a copy
    start = (trimmed.__array_interface__["data"][0] - clip.__array_interface__["data"][0]) // 4
    t0, t1 = start / SR, (start + len(trimmed)) / SR
    assert abs(t0 - (1.0 - 0.2)) < 0.3, f"kept {t0:.2f}-{t1:.2f} s of a clip with speech at 1.00-{1 + len(speech) / SR:.2f} s"
    assert abs(t1 - (1.0 + len(speech) / SR + 0.2)) < 0.3, f"kept {t0:.2f}-{t1:.2f} s"
    assert np.sum(trimmed.astype(np.float64) ** 2) >= 0.995 * np.sum(clip.astype(np.float64) ** 2)


@pytest.mark.parametrize("noise", [0.0, 1e-3], ids=["digital-silence", "room-noise-60dB"])
def test_trim_to_speech_keeps_a_clip_without_speech(noise: float) -> None:
    quiet = noise * np.random.default_rng(1).standard_normal(3 * SR).astype(np.float32)
    out = trim_to_speech(quiet)
    assert len(out) == len(quiet) and np.array_equal(out, quiet)


# --- labels ----------------------------------------------------------------------------

def test_label_table_is_complete() -> None:
    assert len(LABELS) == len(set(LABELS)) == 8
    assert set(COLORS) == set(CIRCUMPLEX) == set(LABELS)
    for v, a in CIRCUMPLEX.values():
        assert -1 <= v <= 1 and -1 <= a <= 1


@pytest.mark.parametrize("seed", range(5))
def test_valence3_and_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(len(LABELS)))
    probs = dict(zip(LABELS, p))
    v3 = valence3(probs)
    assert tuple(v3) == VALENCE3 == ("negative", "neutral", "positive")
    assert sum(v3.values()) == pytest.approx(1.0)
    assert v3["negative"] == pytest.approx(sum(probs[k] for k in ("sad", "angry", "fearful", "disgust")))
    aro, val = arousal_valence(probs)
    assert -1 <= aro <= 1 and -1 <= val <= 1
    views = derived_views(LABELS, p)
    assert views["arousal"] == pytest.approx(aro) and views["valence"] == pytest.approx(val)


def test_valence3_of_a_subset_model() -> None:
    """A model with fewer classes (no calm/surprised) still gives a distribution."""
    v3 = valence3({"neutral": 0.2, "sad": 0.3, "angry": 0.3, "happy": 0.2})
    assert v3 == pytest.approx({"negative": 0.6, "neutral": 0.2, "positive": 0.2})


def test_circumplex_corners() -> None:
    assert arousal_valence({"angry": 1.0}) == pytest.approx((0.8, -0.7))
    assert arousal_valence({"sad": 1.0}) == pytest.approx((-0.5, -0.7))
    aro, val = arousal_valence({"happy": 0.5, "sad": 0.5})
    assert aro == pytest.approx(0.0) and val == pytest.approx(0.05)


@pytest.mark.parametrize(("name", "label"), [
    ("ANG", "angry"), (" Anger ", "angry"), ("ps", "surprised"), ("Surprise", "surprised"),
    ("fear", "fearful"), ("NEU", "neutral"), ("joy", "happy"), ("calm", "calm"),
    ("disgust", "disgust"), ("sadness", "sad"),
])
def test_normalize_label(name: str, label: str) -> None:
    assert normalize_label(name) == label


@pytest.mark.parametrize("name", ["bored", "", "angryy", "contempt"])
def test_unknown_label(name: str) -> None:
    with pytest.raises(UnknownLabelError) as exc:
        normalize_label(name)
    assert repr(name) in str(exc.value) and len(str(exc.value).splitlines()) == 1
    assert isinstance(exc.value, ValueError)
