"""Training augmentation: channel simulation, noise mixing, crops, and the two augment stages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ser_live.features import FeatureConfig, LogMel
from ser_live.train.augment import (AugmentConfig, SpecAugment, WaveAugment, add_white_noise,
                                    colored_noise, consistency_loss, mix_at_snr, random_crop,
                                    reverberate, telephone)
from ser_live.windows import WINDOW

SR = 16_000


def band_db(x: np.ndarray, lo: float, hi: float, ref: tuple[float, float] = (500, 3000)) -> float:
    """Mean power density in [lo, hi) Hz relative to the density in the `ref` band, in dB."""
    f = np.fft.rfftfreq(len(x), 1 / SR)
    p = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    dens = p[(f >= lo) & (f < hi)].mean()
    return float(10 * np.log10(dens / p[(f >= ref[0]) & (f < ref[1])].mean()))


def power_fraction(x: np.ndarray, lo: float, hi: float) -> float:
    f = np.fft.rfftfreq(len(x), 1 / SR)
    p = np.abs(np.fft.rfft(x)) ** 2
    return float(p[(f >= lo) & (f < hi)].sum() / p.sum())


@pytest.fixture(scope="module")
def white() -> np.ndarray:
    return (0.1 * np.random.default_rng(0).standard_normal(2 * SR)).astype(np.float32)


def test_telephone_band_limits(white: np.ndarray) -> None:
    y = telephone(white)
    assert y.dtype == np.float32 and y.shape == white.shape
    assert band_db(white, 4000, 8000) == pytest.approx(0, abs=1)  # input is flat
    assert band_db(y, 4000, 7900) < -60                           # 8 kHz sampling: nothing above 4 kHz
    assert band_db(y, 3600, 4000) < -6                            # the 3.4 kHz edge
    assert band_db(y, 20, 150) < -25                              # the 300 Hz edge
    assert power_fraction(white, 3400, 8000) > 0.5
    assert power_fraction(y, 3400, 8000) < 0.05
    assert power_fraction(y, 0, 300) < 0.5 * power_fraction(white, 0, 300)
    # the pass band keeps its level (mu-law and resampling are not a gain change)
    f = np.fft.rfftfreq(len(y), 1 / SR)
    pin = (np.abs(np.fft.rfft(white)) ** 2)[(f > 500) & (f < 3000)].sum()
    pout = (np.abs(np.fft.rfft(y)) ** 2)[(f > 500) & (f < 3000)].sum()
    assert 10 * np.log10(pout / pin) == pytest.approx(0, abs=1)


def test_telephone_on_speech(speech: np.ndarray) -> None:
    y = telephone(speech)
    assert y.shape == speech.shape and np.isfinite(y).all()
    assert power_fraction(y, 4000, 8000) < 1e-5
    assert power_fraction(y, 0, 300) < 0.5 * power_fraction(speech, 0, 300)
    # still the same speech, in time: the loudness envelopes (20 ms frames) agree
    env = [np.sqrt(np.mean(z[:len(z) // 320 * 320].reshape(-1, 320) ** 2, axis=1)) for z in (y, speech)]
    assert np.corrcoef(*env)[0, 1] > 0.8


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 30.0])
def test_mix_at_snr(speech: np.ndarray, snr: float) -> None:
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(len(speech)).astype(np.float32) * 0.7
    mixed = mix_at_snr(speech, noise, snr)
    added = mixed.astype(np.float64) - speech
    got = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(added ** 2))
    assert mixed.dtype == np.float32 and mixed.shape == speech.shape
    assert got == pytest.approx(snr, abs=0.1)
    # the added part is the noise, scaled
    assert np.corrcoef(added, noise)[0, 1] > 0.999


@pytest.mark.parametrize("n", [100, 16000, WINDOW, WINDOW + 1, 3 * WINDOW])
def test_random_crop(n: int) -> None:
    rng = np.random.default_rng(n)
    clip = (np.arange(n) + 1).astype(np.float32)
    out = random_crop(clip, rng)
    assert out.shape == (WINDOW,) and out.dtype == np.float32
    nz = np.flatnonzero(out)
    if n <= WINDOW:   # the whole clip, contiguous, somewhere in the window
        assert len(nz) == n and np.array_equal(out[nz[0]:nz[0] + n], clip)
    else:             # a contiguous stretch of the clip
        assert len(nz) == WINDOW and np.all(np.diff(out) == 1)


def test_random_crop_places_vary() -> None:
    clip = np.ones(8000, np.float32)
    rng = np.random.default_rng(0)
    firsts = {int(np.flatnonzero(random_crop(clip, rng))[0]) for _ in range(20)}
    assert len(firsts) > 10


def test_colored_noise_slopes() -> None:
    rng = np.random.default_rng(0)
    for exponent, expected in ((0.0, 0.0), (1.0, -10.0), (2.0, -20.0)):
        x = colored_noise(4 * SR, exponent, rng)
        assert x.dtype == np.float32 and len(x) == 4 * SR
        # power per decade: 200-400 Hz vs 2000-4000 Hz
        assert band_db(x, 2000, 4000, ref=(200, 400)) == pytest.approx(expected, abs=2.0)


def test_reverberate_keeps_peak_and_length(speech: np.ndarray) -> None:
    y = reverberate(speech, 0.5, np.random.default_rng(0))
    assert y.dtype == np.float32 and y.shape == speech.shape
    assert np.max(np.abs(y)) == pytest.approx(np.max(np.abs(speech)), rel=1e-3)
    assert not np.allclose(y, speech, atol=1e-3)


ALL_ON = AugmentConfig(p_pitch=1.0, p_noise=1.0, p_babble=0.5, p_reverb=1.0, p_telephone=1.0)
ALL_OFF = AugmentConfig(p_pitch=0.0, p_noise=0.0, p_reverb=0.0, p_telephone=0.0, gain_db=0.0)


@pytest.fixture(scope="module")
def babble(speech: np.ndarray):
    return lambda rng: np.roll(speech, int(rng.integers(len(speech))))


@pytest.mark.parametrize("cfg", [AugmentConfig(), ALL_ON], ids=["default", "all-on"])
def test_wave_augment_output(speech: np.ndarray, babble, cfg: AugmentConfig) -> None:
    aug = WaveAugment(cfg, babble)
    for seed in range(6):
        x, pitch = aug(speech, np.random.default_rng(seed))
        assert x.shape == (WINDOW,) and x.dtype == np.float32
        assert np.isfinite(x).all() and np.max(np.abs(x)) <= 1.0
        assert np.any(x != 0)
        lim = 2.0 ** (cfg.pitch_semitones / 12)
        assert 1 / lim - 1e-6 <= pitch <= lim + 1e-6


def test_wave_augment_is_seeded(speech: np.ndarray, babble) -> None:
    aug = WaveAugment(ALL_ON, babble)
    a, pa = aug(speech, np.random.default_rng([7, 1, 3]))
    b, pb = aug(speech, np.random.default_rng([7, 1, 3]))
    c, pc = aug(speech, np.random.default_rng([7, 1, 4]))
    assert np.array_equal(a, b) and pa == pb
    assert not np.allclose(a, c) and pa != pc


def test_wave_augment_off_is_a_crop(speech: np.ndarray, babble) -> None:
    """With every augmentation off, the output is a plain 2 s stretch of the clip."""
    assert len(speech) > WINDOW
    x, pitch = WaveAugment(ALL_OFF, babble)(speech, np.random.default_rng(0))
    assert pitch == 1.0
    starts = [int(s) for s in np.flatnonzero(speech[:len(speech) - WINDOW + 1] == x[0])
              if np.array_equal(speech[s:s + WINDOW], x)]
    assert starts, "not a contiguous crop of the input"


def test_wave_augment_pitch_shifts_frequency(babble) -> None:
    """pitch > 1 raises every frequency by that factor."""
    t = np.arange(3 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    cfg = AugmentConfig(p_pitch=1.0, p_noise=0.0, p_reverb=0.0, p_telephone=0.0, gain_db=0.0)
    x, pitch = WaveAugment(cfg, babble)(tone, np.random.default_rng(5))
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    peak_hz = np.argmax(spec) * SR / len(x)
    assert pitch != 1.0
    assert peak_hz == pytest.approx(500 * pitch, abs=2)


@pytest.fixture(scope="module")
def raw_feats(speech: np.ndarray) -> torch.Tensor:
    rng = np.random.default_rng(0)
    waves = np.stack([random_crop(speech, rng) for _ in range(8)])
    with torch.no_grad():
        return LogMel().raw(torch.from_numpy(waves))


def full_rows(x: torch.Tensor, value: float, dim: int) -> torch.Tensor:
    """Per example: how many mel bins (dim=1) / frames (dim=2) are entirely `value`."""
    return (x == value).all(dim=3 - dim).sum(dim=1)


def test_spec_augment_identity_without_changes(raw_feats: torch.Tensor) -> None:
    floor = LogMel().floor
    cfg = AugmentConfig(tempo_range=0.0, freq_masks=0, time_masks=0)
    out = SpecAugment(cfg, -floor)(raw_feats, torch.ones(len(raw_feats)), torch.Generator().manual_seed(0))
    assert out.shape == raw_feats.shape
    assert torch.allclose(out, raw_feats, atol=1e-4)


@pytest.mark.parametrize("compression", ["log", "pcen"])
def test_spec_augment_masks(speech: np.ndarray, compression: str) -> None:
    """Masks write each front end's silence value (`LogMel.silence`) and nothing else."""
    fe = LogMel(FeatureConfig(compression=compression))
    rng = np.random.default_rng(0)
    with torch.no_grad():
        raw_feats = fe.raw(torch.from_numpy(np.stack([random_crop(speech, rng) for _ in range(8)])))
    silence = fe.silence
    cfg = AugmentConfig(tempo_range=0.0, freq_masks=2, freq_mask_bins=8, time_masks=2, time_mask_frames=20)
    sa = SpecAugment(cfg, silence)
    before_f = full_rows(raw_feats, silence, 1)
    before_t = full_rows(raw_feats, silence, 2)
    out = sa(raw_feats, torch.ones(len(raw_feats)), torch.Generator().manual_seed(1))
    assert out.shape == raw_feats.shape and out.dtype == raw_feats.dtype
    masked_f = full_rows(out, silence, 1) - before_f
    masked_t = full_rows(out, silence, 2) - before_t
    assert (masked_f > 0).sum() >= 5 and masked_f.max() <= 2 * 8
    assert (masked_t > 0).sum() >= 5 and masked_t.max() <= 2 * 20
    # masks set values to silence and nothing else changes
    changed = (out - raw_feats).abs() > 1e-3
    assert changed.any() and torch.all(out[changed] == np.float32(silence))
    # seeded
    again = sa(raw_feats, torch.ones(len(raw_feats)), torch.Generator().manual_seed(1))
    assert torch.equal(out, again)


def test_spec_augment_tempo_stretches_time(raw_feats: torch.Tensor) -> None:
    """pitch 1.25 (clip sped up by resampling) is undone: content moves away from the centre."""
    floor = LogMel().floor
    cfg = AugmentConfig(tempo_range=0.0, freq_masks=0, time_masks=0)
    pitch = torch.full((len(raw_feats),), 1.25)
    out = SpecAugment(cfg, -floor)(raw_feats, pitch, torch.Generator().manual_seed(0))
    assert out.shape == raw_feats.shape
    assert out.min() >= -floor - 1e-4 and out.max() <= 1e-4
    t = raw_feats.shape[2]
    centre = (t - 1) / 2
    # output frame x reads input frame centre + (x - centre) / 1.25: compare one interior frame
    x = int(0.9 * t)
    src = centre + (x - centre) / 1.25
    lo = int(np.floor(src))
    w = src - lo
    expected = (1 - w) * raw_feats[:, :, lo] + w * raw_feats[:, :, lo + 1]
    assert torch.allclose(out[:, :, x], expected, atol=1e-3)


def test_add_white_noise_snr_over_the_speech_part(speech: np.ndarray) -> None:
    """The noisy view of a padded short clip has the asked SNR over the clip, not the window."""
    batch = torch.zeros(3, WINDOW)
    n = min(len(speech), WINDOW // 2)
    batch[:, 4000:4000 + n] = torch.from_numpy(speech[:n]) * torch.tensor([[1.0], [0.1], [0.01]])
    noisy = add_white_noise(batch, (10.0, 10.0), torch.Generator().manual_seed(0))
    noise = noisy - batch
    part = batch[:, 4000:4000 + n]
    snr = 10 * torch.log10((part.square().sum(1) / (part != 0).sum(1)) / noise.square().mean(1))
    assert torch.allclose(snr, torch.full((3,), 10.0), atol=0.3), snr
    # white: as much power in the top half of the band as in the bottom half
    spec = torch.fft.rfft(noise[0]).abs().square()
    half = spec.shape[0] // 2
    assert 0.9 < float(spec[half:].sum() / spec[:half].sum()) < 1.1
    again = add_white_noise(batch, (10.0, 10.0), torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)  # seeded


def test_consistency_loss() -> None:
    """Zero when two views agree, positive and symmetric when they do not, bounded by ln 2."""
    a = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    b = torch.randn(6, 8, generator=torch.Generator().manual_seed(2))
    assert float(consistency_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(consistency_loss(a, b)) > 0.01
    assert float(consistency_loss(a, b)) == pytest.approx(float(consistency_loss(b, a)), rel=1e-5)
    far = torch.tensor([[30.0, 0.0], [0.0, 30.0]])
    assert float(consistency_loss(far, far.flip(1))) == pytest.approx(np.log(2), rel=1e-3)


def test_distillation_loss() -> None:
    """Zero when the student already matches the teacher, and larger the further it is; the T^2
    scale keeps it comparable with the label loss at any temperature."""
    from ser_live.train.loop import DISTILL_TEMPERATURE, distillation_loss

    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(16, 8, generator=g) * 3
    near = teacher + torch.randn(16, 8, generator=g) * 0.3
    far = torch.randn(16, 8, generator=g) * 3
    assert float(distillation_loss(teacher, teacher)) == pytest.approx(0.0, abs=1e-5)
    assert 0.0 < float(distillation_loss(near, teacher)) < float(distillation_loss(far, teacher))
    t = DISTILL_TEMPERATURE
    p = torch.softmax(teacher / t, -1)
    kl = (p * (p.log() - torch.log_softmax(far / t, -1))).sum(-1).mean() * t * t
    assert float(distillation_loss(far, teacher)) == pytest.approx(float(kl), rel=1e-5)


def test_mixed_cross_entropy() -> None:
    """Mixup's loss is the two label losses weighted like the inputs; weight 1 is no mixup, and
    mixing a window with itself changes nothing."""
    import torch.nn.functional as F

    from ser_live.train.loop import mixed_cross_entropy

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 5, generator=g)
    y = torch.randint(0, 5, (8,), generator=g)
    partner = torch.randperm(8, generator=g)
    own, other = F.cross_entropy(logits, y), F.cross_entropy(logits, y[partner])
    assert float(other) != pytest.approx(float(own))
    assert float(mixed_cross_entropy(logits, y, None, 0.0)) == pytest.approx(float(own))
    assert float(mixed_cross_entropy(logits, y, (1.0, partner), 0.0)) == pytest.approx(float(own))
    assert float(mixed_cross_entropy(logits, y, (0.3, partner), 0.0)) == pytest.approx(
        0.3 * float(own) + 0.7 * float(other), rel=1e-6)
    assert float(mixed_cross_entropy(logits, y, (0.3, torch.arange(8)), 0.0)) == pytest.approx(float(own))
