"""Networks shared by the tests that compare attribution paths (folding, fast Occlusion, fast
DeepLIFT): the default CNN with non-default BatchNorm statistics, as after training."""

from __future__ import annotations

import torch
from torch import nn

from ecgsignal.models.cnn import build_model


def trained_like(seed: int = 0) -> nn.Module:
    """The default 9-class CNN (weights seeded by ``seed``) with random BatchNorm affine
    parameters and running statistics, in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_model(9)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm1d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.2 + torch.rand(c, generator=gen))
    return net.eval()
