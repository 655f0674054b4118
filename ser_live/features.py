"""The one feature path: waveform windows -> normalised log-mel (or PCEN), as a torch module.

The same module runs in the training loop, in offline evaluation and inside the exported
TorchScript model, so a deployed model cannot drift from what it was trained on.

Two choices make it generalise across microphones and corpora:
- each window's log-mel is referenced to its own maximum and floored `top_db` below it, so
  input gain (near or far microphone, hot or quiet line) changes nothing, and zero padding
  looks the same as silence;
- per-bin mean/std come from training speakers only and are stored as buffers, so they
  travel inside the model file.

`compression="pcen"` replaces the log with per-channel energy normalisation (Wang et al.,
2017): each band is divided by its own smoothed past before a root compression, so a steady
background (hiss, hum, line noise) flattens towards a constant while speech stands out. Trained
on it, the net lost more to white noise than on the log-mel (README, run r24), so the log stays
the default.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .audio.io import SAMPLE_RATE


COMPRESSIONS = ("log", "pcen")
#: time constant of PCEN's smoother in seconds, librosa's default (as are its other constants)
PCEN_TIME_S = 0.4


@dataclass(frozen=True)
class FeatureConfig:
    """Front-end parameters; stored in the model metadata so a model describes its own input."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 400
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    f_min: float = 40.0
    f_max: float = 7800.0
    top_db: float = 80.0  # floor of the log compression
    #: "log" (log-mel) or "pcen" (per-channel energy normalisation, for steady noise)
    compression: str = "log"

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"features.compression: expected one of {', '.join(COMPRESSIONS)}, "
                             f"got {self.compression!r}")


def mel_filterbank(cfg: FeatureConfig) -> torch.Tensor:
    """Slaney-style mel matrix (n_mels, n_fft//2+1) from librosa, the reference implementation."""
    import librosa

    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                             fmin=cfg.f_min, fmax=cfg.f_max)
    return torch.from_numpy(fb).float()


class LogMel(nn.Module):
    """(batch, samples) 16 kHz float32 -> (batch, n_mels, frames) normalised log-mel (or PCEN)."""

    def __init__(self, cfg: FeatureConfig = FeatureConfig()) -> None:
        super().__init__()
        #: set on a copy that is exported to ONNX (see train/export.py)
        self.onnx_export = False
        self.n_fft = cfg.n_fft
        self.win_length = cfg.win_length
        self.hop_length = cfg.hop_length
        # natural-log floor equivalent to top_db decibels of power
        self.floor = float(cfg.top_db) * 0.230258509  # ln(10)/10
        self.pcen = cfg.compression == "pcen"
        # the one-pole smoother's coefficient for the time constant in frames (as librosa.pcen)
        t_frames = PCEN_TIME_S * cfg.sample_rate / cfg.hop_length
        self.smooth = float(((1 + 4 * t_frames ** 2) ** 0.5 - 1) / (2 * t_frames ** 2))
        #: what silence (and zero padding) reads as before normalisation; SpecAugment masks with it
        self.silence = 0.0 if self.pcen else -self.floor
        self.register_buffer("window", torch.hann_window(cfg.win_length), persistent=False)
        self.register_buffer("mel_fb", mel_filterbank(cfg))
        self.register_buffer("mean", torch.zeros(cfg.n_mels, 1))
        self.register_buffer("std", torch.ones(cfg.n_mels, 1))

    def mel_power(self, wave: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> mel-band power (batch, n_mels, frames)."""
        if self.onnx_export:
            # ONNX has no complex tensors; its exporter maps the real-pair form onto DFT
            pair = torch.stft(wave, n_fft=self.n_fft, hop_length=self.hop_length,
                              win_length=self.win_length, window=self.window,
                              center=True, pad_mode="constant", return_complex=False)
            power = pair[..., 0].square() + pair[..., 1].square()
        else:
            spec = torch.stft(wave, n_fft=self.n_fft, hop_length=self.hop_length,
                              win_length=self.win_length, window=self.window,
                              center=True, pad_mode="constant", return_complex=True)
            power = spec.real.square() + spec.imag.square()
        return torch.matmul(self.mel_fb, power)

    def log_peak(self, mel: torch.Tensor) -> torch.Tensor:
        """Mel power -> natural-log level relative to each window's peak, floored `top_db` below."""
        # an epsilon far below any real signal keeps quiet input exactly gain-invariant; the
        # clamped peak makes an all-zero window (a muted line) read as the silence floor
        logmel = torch.log(mel + 1e-30)
        peak = logmel.amax(dim=(1, 2), keepdim=True).clamp_min(-46.0)  # ln(1e-20)
        return torch.clamp(logmel - peak, min=-self.floor)

    def pcen_peak(self, mel: torch.Tensor) -> torch.Tensor:
        """Mel power -> PCEN of the power relative to each window's peak (gain-invariant).

        The smoother M[t] = (1-s) M[t-1] + s E[t], started at E[0], is computed in closed form
        with one cumulative sum, not a loop over frames; float64 keeps its (1-s)^-t weights
        finite for inputs up to several minutes long.
        """
        peak = mel.amax(dim=(1, 2), keepdim=True).clamp_min(1e-20)
        e = (mel / peak).double()
        s = self.smooth
        decay = torch.pow(1.0 - s, torch.arange(e.shape[-1], dtype=torch.float64, device=e.device))
        m = decay * (s * torch.cumsum(e / decay, dim=-1) + (1.0 - s) * e[..., :1])
        # gain 0.98, bias 2, power 0.5, epsilon 1e-6 (librosa's defaults)
        out = (e / (1e-6 + m) ** 0.98 + 2.0) ** 0.5 - 2.0 ** 0.5
        return out.to(mel.dtype)

    def raw(self, wave: torch.Tensor) -> torch.Tensor:
        """Gain-invariant log-mel (or PCEN) before the dataset normalisation."""
        mel = self.mel_power(wave)
        if self.pcen:
            return self.pcen_peak(mel)
        return self.log_peak(mel)

    def normalize(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw log-mel -> the network's input; training applies SpecAugment in between."""
        return (raw - self.mean) / self.std

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.raw(wave))

    @torch.no_grad()
    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store per-bin statistics measured on training speakers' raw features."""
        self.mean.copy_(mean.reshape_as(self.mean))
        self.std.copy_(std.clamp_min(1e-3).reshape_as(self.std))
