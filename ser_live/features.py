"""The one feature path: waveform windows -> normalised log-mel, as a torch module.

The same module runs in the training loop, in offline evaluation and inside the exported
TorchScript model, so a deployed model cannot drift from what it was trained on.

Two choices make it generalise across microphones and corpora:
- each window's log-mel is referenced to its own maximum and floored `top_db` below it, so
  input gain (near or far microphone, hot or quiet line) changes nothing, and zero padding
  looks the same as silence;
- per-bin mean/std come from training speakers only and are stored as buffers, so they
  travel inside the model file.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .audio.io import SAMPLE_RATE


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel parameters; stored in the model metadata so a model describes its own input."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 400
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    f_min: float = 40.0
    f_max: float = 7800.0
    top_db: float = 80.0


def mel_filterbank(cfg: FeatureConfig) -> torch.Tensor:
    """Slaney-style mel matrix (n_mels, n_fft//2+1) from librosa, the reference implementation."""
    import librosa

    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                             fmin=cfg.f_min, fmax=cfg.f_max)
    return torch.from_numpy(fb).float()


class LogMel(nn.Module):
    """(batch, samples) 16 kHz float32 -> (batch, n_mels, frames) normalised log-mel."""

    def __init__(self, cfg: FeatureConfig = FeatureConfig()) -> None:
        super().__init__()
        #: set on a copy that is exported to ONNX (see train/export.py)
        self.onnx_export = False
        self.n_fft = cfg.n_fft
        self.win_length = cfg.win_length
        self.hop_length = cfg.hop_length
        # natural-log floor equivalent to top_db decibels of power
        self.floor = float(cfg.top_db) * 0.230258509  # ln(10)/10
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

    def raw(self, wave: torch.Tensor) -> torch.Tensor:
        """Gain-invariant log-mel before the dataset normalisation."""
        return self.log_peak(self.mel_power(wave))

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
