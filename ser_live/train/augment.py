"""Training-time augmentation, applied after the speaker split to training clips only.

Users are on phone lines, headsets and laptops in noisy rooms, and the model must not learn the
acted corpora's studio channel. Two stages:

- `WaveAugment` (numpy, per clip, in the data-loader workers): pitch/speed change by
  resampling, random placement of the 2 s crop (time shift), room reverberation, additive
  noise (white, pink, brown or other speakers' babble) at a chosen SNR, gain, and telephone
  simulation (300-3400 Hz band, 8 kHz resampling, 8-bit mu-law).
- `SpecAugment` (torch, per batch, on features): tempo change by time-axis resampling of the
  log-mel (undoing the tempo part of the pitch resampling, so pitch and tempo vary
  independently), and frequency/time masks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..audio.io import SAMPLE_RATE
from ..windows import WINDOW


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise scaled so that speech power / noise power = snr_db."""
    ps = float(np.mean(speech ** 2)) + 1e-12
    pn = float(np.mean(noise ** 2)) + 1e-12
    return (speech + noise * np.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0)))).astype(np.float32)


def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    return np.fft.irfft(spec / f ** (exponent / 2.0), n).astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    """A narrow-band call: 300-3400 Hz band-pass, 8 kHz sampling and 8-bit mu-law, back at 16 kHz."""
    import soxr
    from scipy.signal import butter, sosfilt

    sos = butter(4, [300, 3400], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    x = soxr.resample(sosfilt(sos, audio).astype(np.float32), SAMPLE_RATE, 8000)
    peak = float(np.max(np.abs(x))) + 1e-9
    x = np.clip(x / peak, -1.0, 1.0)
    mu = 255.0
    code = np.round((np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) + 1) / 2 * mu)
    y = 2 * code / mu - 1
    x = np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu * peak
    out = soxr.resample(x.astype(np.float32), 8000, SAMPLE_RATE)
    return out[:len(audio)].astype(np.float32)


def reverberate(audio: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response: exponentially decaying noise with that RT60."""
    from scipy.signal import fftconvolve

    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / 0.3  # direct path dominates the tail
    wet = fftconvolve(audio, rir.astype(np.float32))[:len(audio)]
    return (wet / (np.max(np.abs(wet)) + 1e-9) * (np.max(np.abs(audio)) + 1e-9)).astype(np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation."""

    p_pitch: float = 0.5
    pitch_semitones: float = 2.0
    tempo_range: float = 0.15
    p_noise: float = 0.6
    snr_db: tuple[float, float] = (0.0, 30.0)
    # spectral slopes of the synthetic noise (0 white, 1 pink, 2 brown), drawn uniformly; more
    # white noise (0, 0, 1, 2) with p_noise 0.7 at 0-25 dB gained 0.4 points of validation UA
    # under white noise and lost 3.0 under telephone simulation (runs/r4), so it stays even
    noise_exponents: tuple[float, ...] = (0.0, 1.0, 2.0)
    p_babble: float = 0.25  # share of the noisy clips whose noise is another speaker
    p_reverb: float = 0.25
    rt60: tuple[float, float] = (0.15, 0.7)
    p_telephone: float = 0.25
    gain_db: float = 12.0
    freq_masks: int = 2
    freq_mask_bins: int = 8
    time_masks: int = 2
    time_mask_frames: int = 20
    # SNR range of the white-noise view in noise-consistency training (`train --noise-consistency`)
    consistency_snr_db: tuple[float, float] = (5.0, 20.0)


class WaveAugment:
    """One clip -> one augmented 2 s training window and its pitch factor."""

    def __init__(self, cfg: AugmentConfig, babble: Callable[[np.random.Generator], np.ndarray]):
        self.cfg = cfg
        self.babble = babble

    def __call__(self, clip: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        import soxr

        cfg = self.cfg
        pitch = 1.0
        if rng.random() < cfg.p_pitch:
            pitch = 2.0 ** (rng.uniform(-cfg.pitch_semitones, cfg.pitch_semitones) / 12.0)
            # read the clip at a rate `pitch` times slower: every frequency is scaled by `pitch`
            clip = soxr.resample(clip, SAMPLE_RATE, SAMPLE_RATE / pitch, quality="LQ")
        x = random_crop(clip, rng)
        if rng.random() < cfg.p_reverb:
            x = reverberate(x, rng.uniform(*cfg.rt60), rng)
        if rng.random() < cfg.p_noise:
            if rng.random() < cfg.p_babble:
                noise = random_crop(self.babble(rng), rng)
            else:
                noise = colored_noise(len(x), float(rng.choice(cfg.noise_exponents)), rng)
            x = mix_at_snr(x, noise, rng.uniform(*cfg.snr_db))
        if rng.random() < cfg.p_telephone:
            x = telephone(x)
        # gain up to the point of clipping: level itself is normalised away by the features,
        # but quantisation and the noise floor's relation to it are not
        headroom_db = -20.0 * np.log10(float(np.max(np.abs(x))) + 1e-9)
        x = x * 10.0 ** (rng.uniform(-cfg.gain_db, min(cfg.gain_db, headroom_db)) / 20.0)
        return np.clip(x, -1.0, 1.0).astype(np.float32), pitch


def random_crop(clip: np.ndarray, rng: np.random.Generator, window: int = WINDOW) -> np.ndarray:
    """A 2 s window at a random place in the clip, or the clip at a random place in the window."""
    out = np.zeros(window, dtype=np.float32)
    if len(clip) >= window:
        start = int(rng.integers(0, len(clip) - window + 1))
        out[:] = clip[start:start + window]
    else:
        start = int(rng.integers(0, window - len(clip) + 1))
        out[start:start + len(clip)] = clip
    return out


def add_white_noise(wave: torch.Tensor, snr_db: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    """A batch of windows with white noise at a random SNR each (the noisy view for consistency).

    Speech power is measured over each window's non-zero samples, so a short clip centred in
    zero padding gets the same SNR as it would alone.
    """
    b = wave.shape[0]
    snr = snr_db[0] + torch.rand(b, 1, generator=gen) * (snr_db[1] - snr_db[0])
    ps = wave.square().sum(1, keepdim=True) / (wave != 0).sum(1, keepdim=True).clamp_min(1)
    noise = torch.randn(wave.shape, generator=gen)
    return (wave + noise * torch.sqrt(ps / 10.0 ** (snr / 10.0))).clamp(-1.0, 1.0)


def consistency_loss(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence between two views' predictions: noise must not change them."""
    pa, pb = torch.softmax(logits_a, -1), torch.softmax(logits_b, -1)
    log_m = (0.5 * (pa + pb)).clamp_min(1e-7).log()
    return 0.5 * (F.kl_div(log_m, pa, reduction="batchmean") + F.kl_div(log_m, pb, reduction="batchmean"))


class SpecAugment:
    """Batch-level tempo change and masking of raw (un-normalised) features.

    `silence` is the raw features' value for silence (`LogMel.silence`): masks and the frames a
    tempo change pulls in from beyond the window read as silence, as zero padding does.
    """

    def __init__(self, cfg: AugmentConfig, silence: float) -> None:
        self.cfg = cfg
        self.silence = silence

    def __call__(self, feats: torch.Tensor, pitch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        b, n_mels, frames = feats.shape
        tempo = 1.0 + (torch.rand(b, generator=gen) * 2 - 1) * cfg.tempo_range
        # the pitch resampling also sped the clip up by `pitch`; dividing it out leaves the
        # tempo change independent of the pitch change (output frame x reads input frame scale*x)
        scale = (tempo / pitch).to(feats)
        theta = torch.zeros(b, 2, 3, dtype=feats.dtype)
        theta[:, 0, 0] = scale
        theta[:, 1, 1] = 1.0
        grid = F.affine_grid(theta, (b, 1, n_mels, frames), align_corners=False)
        out = F.grid_sample((feats - self.silence).unsqueeze(1), grid, align_corners=False,
                            padding_mode="zeros").squeeze(1) + self.silence
        for _ in range(cfg.freq_masks):
            out = _mask(out, 1, cfg.freq_mask_bins, gen, self.silence)
        for _ in range(cfg.time_masks):
            out = _mask(out, 2, cfg.time_mask_frames, gen, self.silence)
        return out


def _mask(x: torch.Tensor, dim: int, width: int, gen: torch.Generator, value: float) -> torch.Tensor:
    """Set a random band of up to `width` along `dim` to `value`, independently per example."""
    b, size = x.shape[0], x.shape[dim]
    w = (torch.rand(b, generator=gen) * (width + 1)).long()
    start = (torch.rand(b, generator=gen) * (size - w).clamp_min(1)).long()
    idx = torch.arange(size).unsqueeze(0)
    band = (idx >= start.unsqueeze(1)) & (idx < (start + w).unsqueeze(1))  # (b, size)
    band = band.unsqueeze(1) if dim == 2 else band.unsqueeze(2)
    return x.masked_fill(band, value)
