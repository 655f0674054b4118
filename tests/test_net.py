"""EmotionNet's shapes under its architecture options, and configs saved before an option existed."""
from __future__ import annotations

import pytest
import torch

from ser_live.model.net import EmotionNet, NetConfig, count_parameters


@pytest.mark.parametrize("strides, steps", [((2, 2, 1), 51), ((2, 2, 2), 26), ((1, 2, 1), 101)])
def test_time_strides_set_the_lstm_steps(strides: tuple[int, int, int], steps: int) -> None:
    net = EmotionNet(NetConfig(channels=(8, 16, 24), time_strides=strides)).eval()
    seen: list[torch.Size] = []
    net.lstm.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].shape))
    with torch.no_grad():
        logits = net(torch.randn(3, 32000) * 0.1)
    assert logits.shape == (3, 8)
    assert seen == [torch.Size([3, steps, net.proj[0].out_features])]


def test_smaller_config_has_fewer_parameters_and_round_trips() -> None:
    small = NetConfig(channels=(16, 32, 48), time_strides=(2, 2, 2))
    assert count_parameters(EmotionNet(small)) < count_parameters(EmotionNet(NetConfig())) < 5_000_000
    assert NetConfig.from_dict(small.to_dict()) == small


def test_config_saved_before_time_strides_existed_loads_with_the_old_behaviour() -> None:
    old = NetConfig().to_dict()
    del old["time_strides"]
    assert NetConfig.from_dict(old).time_strides == (2, 2, 1)
