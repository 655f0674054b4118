"""LogMel, the one feature path of training, evaluation and the exported model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ser_live.features import FeatureConfig, LogMel
from ser_live.windows import WINDOW


@pytest.fixture(scope="module")
def logmel() -> LogMel:
    return LogMel().eval()


@pytest.fixture(scope="module")
def window(speech: np.ndarray) -> np.ndarray:
    """2 s of speech at peak 0.5 (no leading silence)."""
    assert len(speech) >= WINDOW
    return np.ascontiguousarray(speech[:WINDOW])


def raw(m: LogMel, *waves: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return m.raw(torch.from_numpy(np.stack(waves).astype(np.float32))).numpy()


def test_shape_and_dtype(logmel: LogMel, window: np.ndarray) -> None:
    x = torch.from_numpy(np.stack([window, 0.3 * window, np.zeros(WINDOW, np.float32)]))
    with torch.no_grad():
        out = logmel(x)
    assert WINDOW == 32000
    assert tuple(out.shape) == (3, 64, 201)  # 1 + 32000 / 160 frames (centred STFT)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_deterministic(logmel: LogMel, window: np.ndarray) -> None:
    a = raw(logmel, window)
    b = raw(logmel, window)
    c = raw(LogMel(), window)  # a fresh module builds the same filterbank
    assert np.array_equal(a, b)
    assert np.array_equal(a, c)


def test_batch_items_are_independent(logmel: LogMel, window: np.ndarray) -> None:
    """Each window is referenced to its own peak: batch neighbours must not leak in."""
    alone = raw(logmel, window)[0]
    with_loud_neighbour = raw(logmel, window, np.clip(20 * window, -1, 1))[0]
    assert np.allclose(alone, with_loud_neighbour, atol=1e-5)


def test_range_is_peak_referenced_and_floored(logmel: LogMel, window: np.ndarray) -> None:
    r = raw(logmel, window)[0]
    assert r.max() == pytest.approx(0.0, abs=1e-6)
    assert r.min() >= -logmel.floor - 1e-6
    assert logmel.floor == pytest.approx(FeatureConfig().top_db * np.log(10) / 10, rel=1e-6)


@pytest.mark.parametrize("gain", [0.1, 0.01], ids=["-20dB", "-40dB"])
def test_gain_invariance(logmel: LogMel, window: np.ndarray, gain: float) -> None:
    """Near and far microphones (speech peaking at 0.5, 0.05 and 0.005) give the same features.

    Bins that are floored in both are trivially equal; the floor itself must not move with the
    gain (an absolute epsilon inside the log would make quiet input's low bins differ).
    """
    loud, quiet = raw(logmel, window, gain * window)
    diff = np.abs(loud - quiet)
    strong = loud > -logmel.floor / 2  # within 40 dB of the peak
    assert diff[strong].max() < 1e-4, f"max diff in strong bins {diff[strong].max():.2e}"
    assert diff.max() < 1e-3, (f"max diff {diff.max():.3g} at level {loud.flat[diff.argmax()]:.2f} "
                               f"(floor {-logmel.floor:.2f})")


def test_zero_padding_reads_as_silence_floor(logmel: LogMel, speech: np.ndarray) -> None:
    """A short segment centred in a zero-padded window: padded frames are exactly the floor,
    the same as frames of (very quiet) room noise more than top_db below the speech."""
    seg = speech[:16000]  # 1 s in the middle of the 2 s window
    padded = np.zeros(WINDOW, np.float32)
    padded[8000:24000] = seg
    hiss = padded + 1e-6 * np.random.default_rng(0).standard_normal(WINDOW).astype(np.float32)
    zp, ns = raw(logmel, padded, hiss)
    hop, half, frames = logmel.hop_length, logmel.win_length // 2, zp.shape[1]
    # frames whose analysis window lies wholly in the padding: t*hop + half <= 8000
    edge = [t for t in range(frames) if t * hop + half <= 8000 or t * hop - half >= 24000]
    assert len(edge) >= 0.45 * frames
    assert np.all(zp[:, edge] == np.float32(-logmel.floor))
    assert np.all(ns[:, edge] == np.float32(-logmel.floor))
    mid = slice(int(0.3 * frames), int(0.7 * frames))
    assert zp[:, mid].max() == pytest.approx(0.0, abs=1e-6)
    assert (zp[:, mid] > -logmel.floor).mean() > 0.9


def test_all_zero_window_is_silence_not_peak(logmel: LogMel) -> None:
    """Digital silence (a muted microphone) must read as the silence floor, like zero padding,
    not as a window at full level everywhere."""
    r = raw(logmel, np.zeros(WINDOW, np.float32))[0]
    assert np.all(r == np.float32(-logmel.floor)), f"all-zero window gives {np.unique(r)[:5]}"


def test_normalisation_uses_stored_stats(window: np.ndarray) -> None:
    m = LogMel().eval()
    mean = torch.linspace(-10, -5, 64)
    std = torch.linspace(1, 3, 64)
    m.set_stats(mean, std)
    r = torch.from_numpy(raw(m, window))
    with torch.no_grad():
        out = m(torch.from_numpy(window[None]))
    assert torch.allclose(out, (r - mean[:, None]) / std[:, None], atol=1e-5)
    # the statistics are buffers, so they travel in the state dict / model file
    sd = m.state_dict()
    assert torch.equal(sd["mean"].flatten(), mean) and torch.equal(sd["std"].flatten(), std)
    m.set_stats(mean, torch.zeros(64))
    assert float(m.std.min()) > 0  # a constant bin must not divide by zero


def test_torchscript(logmel: LogMel, window: np.ndarray) -> None:
    m = LogMel().eval()
    m.set_stats(torch.full((64,), -8.0), torch.full((64,), 2.0))
    scripted = torch.jit.script(m)
    x = torch.from_numpy(np.stack([window, 0.01 * window]))
    with torch.no_grad():
        assert torch.allclose(scripted(x), m(x), atol=1e-5)
        assert torch.allclose(scripted.raw(x), m.raw(x), atol=1e-5)


def test_matches_librosa_melspectrogram(logmel: LogMel, window: np.ndarray) -> None:
    """Power mel spectrogram with the same parameters: exp(raw) must be librosa's S / max(S)."""
    import librosa

    cfg = FeatureConfig()
    S = librosa.feature.melspectrogram(
        y=window.astype(np.float64), sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
        win_length=cfg.win_length, window="hann", center=True, pad_mode="constant", power=2.0,
        n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=cfg.f_max)
    assert S.shape == (64, 201)
    rel = S / S.max()
    ours = np.exp(raw(logmel, window)[0].astype(np.float64))
    strong = rel > 1e-6  # 60 dB below the peak: well above the floor and float32 noise
    assert strong.mean() > 0.5
    np.testing.assert_allclose(ours[strong], rel[strong], rtol=1e-3)
    # and the log domain, floored the same way
    ref = np.maximum(np.log(rel + 1e-300), -logmel.floor)
    assert np.abs(np.log(ours) - ref)[strong].max() < 1e-3


@pytest.fixture(scope="module")
def pcen() -> LogMel:
    return LogMel(FeatureConfig(compression="pcen")).eval()


def test_pcen_matches_librosa(pcen: LogMel, window: np.ndarray) -> None:
    """`compression="pcen"` is librosa.pcen (its default constants, smoother started at the
    first frame) of the mel power relative to the window's peak, computed without a frame loop."""
    import librosa
    import scipy.signal

    with torch.no_grad():
        mel = pcen.mel_power(torch.from_numpy(window[None]))
    e = (mel / mel.max()).double()[0].numpy()
    b = pcen.smooth
    zi = scipy.signal.lfilter_zi([b], [1, b - 1])[None, :] * e[:, :1]
    ref = librosa.pcen(e, sr=16000, hop_length=160, time_constant=0.4, gain=0.98, bias=2.0,
                       power=0.5, eps=1e-6, zi=zi)
    ours = raw(pcen, window)[0]
    assert ours.dtype == np.float32 and ours.shape == (64, 201)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_pcen_reads_background_the_same_at_any_snr(pcen: LogMel, speech: np.ndarray,
                                                    window: np.ndarray) -> None:
    """What it is for: a second of steady hiss before speech reads about the same whether the
    speech is 10 or 30 dB above it. The peak-referenced log moves it by the SNR difference, in
    units of each front end's spread over speech about five times as far. Digital silence reads
    as `silence`, the value SpecAugment masks with, and input gain changes nothing."""
    hiss = np.random.default_rng(0).standard_normal(WINDOW).astype(np.float32)
    talk = speech[:WINDOW // 2]

    def background_shift(fe: LogMel) -> float:
        levels = []
        for snr in (10.0, 30.0):
            w = hiss * np.sqrt(np.mean(talk ** 2) / 10 ** (snr / 10))
            w[WINDOW // 2:] += talk
            levels.append(raw(fe, w)[0][:, 50:95].mean())  # settled, before the speech
        return abs(levels[0] - levels[1]) / raw(fe, window)[0].std()

    assert background_shift(pcen) < 0.3 < 0.6 < background_shift(LogMel())
    assert pcen.silence == 0.0 and LogMel().silence == -LogMel().floor
    assert np.all(raw(pcen, np.zeros(WINDOW, np.float32)) == 0.0)
    loud, quiet = raw(pcen, window, 0.01 * window)
    assert np.abs(loud - quiet).max() < 1e-4


def test_pcen_torchscript_and_config(pcen: LogMel, window: np.ndarray) -> None:
    scripted = torch.jit.script(pcen)
    x = torch.from_numpy(np.stack([window, 0.01 * window]))
    with torch.no_grad():
        assert torch.allclose(scripted(x), pcen(x), atol=1e-5)
    with pytest.raises(ValueError, match="features.compression: expected one of log, pcen"):
        FeatureConfig(compression="sqrt")
    # model metadata written before the option existed describes log-mel models
    from ser_live.model.net import NetConfig

    old = NetConfig().to_dict()
    del old["features"]["compression"]
    assert NetConfig.from_dict(old).features.compression == "log"
