"""CNN front end + LSTM emotion classifier over 2 s windows of 16 kHz audio.

Sized for the live engine: about 25 M multiply-adds per window so one CPU thread classifies a
window in a few milliseconds, and small enough (well under 1 M parameters) to train on a CPU.
The 2-D convolutions see local time-frequency shapes (harmonics, formant movement) that shift
with the speaker's pitch; the LSTM reads their course over the window; attention pooling lets
the loudest emotional stretch of a window count more than its pauses.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..features import FeatureConfig, LogMel


@dataclass(frozen=True)
class NetConfig:
    """Architecture hyper-parameters, saved with every checkpoint and in the model metadata."""

    n_classes: int = 8
    channels: tuple[int, int, int] = (16, 32, 64)
    #: time stride of each conv block: (2, 2, 1) gives the LSTM 40 ms steps, (2, 2, 2) 80 ms
    #: steps at about 80 % of the compute (prosody moves at syllable rate, ~200 ms)
    time_strides: tuple[int, int, int] = (2, 2, 1)
    proj: int = 128
    lstm_hidden: int = 64
    bidirectional: bool = True
    dropout: float = 0.3
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        if "time_strides" in d:  # checkpoints from before it existed used the default
            d["time_strides"] = tuple(d["time_strides"])
        d["features"] = FeatureConfig(**d["features"])
        return cls(**d)


def _block(cin: int, cout: int, stride: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class EmotionNet(nn.Module):
    """waveform (batch, samples) -> class logits (batch, n_classes)."""

    def __init__(self, cfg: NetConfig = NetConfig()) -> None:
        super().__init__()
        c1, c2, c3 = cfg.channels
        fe = cfg.features
        self.features = LogMel(fe)
        t1, t2, t3 = cfg.time_strides
        # mel axis: 64 -> 32 -> 16 -> 8; time axis with the default strides: 201 -> 101 -> 51
        # -> 51 frames (40 ms steps)
        self.cnn = nn.Sequential(_block(1, c1, (2, t1)), _block(c1, c2, (2, t2)),
                                 _block(c2, c3, (2, t3)), nn.Dropout2d(cfg.dropout / 3))
        freq_out = fe.n_mels // 8
        self.proj = nn.Sequential(nn.Linear(c3 * freq_out, cfg.proj), nn.ReLU(inplace=True),
                                  nn.Dropout(cfg.dropout))
        self.lstm = nn.LSTM(cfg.proj, cfg.lstm_hidden, batch_first=True,
                            bidirectional=cfg.bidirectional)
        out = cfg.lstm_hidden * (2 if cfg.bidirectional else 1)
        self.attn = nn.Linear(out, 1)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(2 * out, cfg.n_classes))

    def classify(self, feats: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel (batch, n_mels, frames) -> logits; SpecAugment goes before this."""
        x = self.cnn(feats.unsqueeze(1))                   # (B, C, F', T')
        b, c, f, t = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b, t, c * f)     # (B, T', C*F')
        x, _ = self.lstm(self.proj(x))                     # (B, T', H)
        w = torch.softmax(self.attn(x), dim=1)             # attention over time
        pooled = torch.cat([(w * x).sum(dim=1), x.mean(dim=1)], dim=1)
        return self.head(pooled)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(wave))


def net_from_checkpoint(ckpt: dict) -> EmotionNet:
    """The trained net a `train` checkpoint holds, built from the architecture saved with it."""
    net = EmotionNet(NetConfig.from_dict(ckpt["net"]))
    net.load_state_dict(ckpt["model"])
    return net


class ProbabilityModel(nn.Module):
    """What ships: waveform windows in, class probabilities out, nothing else needed."""

    def __init__(self, net: EmotionNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        # the softmax in float32 even when a caller runs the network under bf16 autocast
        return torch.softmax(self.net(wave).float(), dim=-1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
