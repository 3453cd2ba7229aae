"""The default 1D CNN over ``(12 leads, T)``: leads are input channels, one logit per class.

Rules that keep every attribution method correct (PROTOCOLS.md): a separate ``nn.ReLU`` module per
use (Captum's DeepLift and LRP go wrong when one ReLU module is reused: captum #1082/#1104), no
in-place ops, no functional activations in ``forward``, and the residual sum done by a module
(:class:`Add`) so LRP can treat it (zennit's canonizer routes it through a ``Sum`` layer; Captum's
ε-rules give it a rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ecgsignal.errors import ConfigError
from ecgsignal.models.phase_conv import PhaseConv1d


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of :class:`ECGCNN`.

    ``channels`` is the width of every block; ``dilations`` gives one residual block each;
    ``stem_stride`` and ``block_strides`` downsample time (product = total stride).
    """

    name: str = "ecgcnn"
    channels: int = 32
    kernel_size: int = 7
    stem_stride: int = 2
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    block_strides: tuple[int, ...] = (1, 2, 1, 1)
    dropout: float = 0.1


class Add(nn.Module):
    """Element-wise sum of two tensors, as a module (so LRP can find the residual sum)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class ResidualBlock(nn.Module):
    """(dilated) Conv1d → BatchNorm1d → ReLU → Conv1d → BatchNorm1d, plus a skip, → ReLU."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, stride: int) -> None:
        super().__init__()
        pad = dilation * (kernel_size - 1) // 2
        # PhaseConv1d: an nn.Conv1d whose dilated convolution runs as interleaved undilated ones
        # (the same function, about twice as fast on an AVX2 CPU; not in training:
        # models/phase_conv.py)
        self.conv1 = PhaseConv1d(channels, channels, kernel_size, stride=stride, padding=pad,
                                 dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = PhaseConv1d(channels, channels, kernel_size, padding=pad, dilation=dilation,
                                 bias=False)
        self.bn2 = nn.BatchNorm1d(channels)
        if stride != 1:
            self.skip: nn.Module = nn.Sequential(
                PhaseConv1d(channels, channels, 1, stride=stride, bias=False),
                nn.BatchNorm1d(channels)
            )
        else:
            self.skip = nn.Identity()
        self.add = Add()
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu1(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return self.relu2(self.add(h, self.skip(x)))


class ECGCNN(nn.Module):
    """Residual dilated 1D CNN: ``(n, 12, T)`` mV → ``(n, n_classes)`` logits.

    The last convolutional layer, for Grad-CAM, is :attr:`last_conv`; the layers a cascading
    randomisation walks, top (logits) to bottom (first conv), are :meth:`randomizable_layers`.
    """

    def __init__(self, n_classes: int, n_leads: int = 12, config: ModelConfig | None = None) -> None:
        super().__init__()
        cfg = config or ModelConfig()
        if len(cfg.dilations) != len(cfg.block_strides):
            raise ConfigError("dilations and block_strides must have the same length")
        self.config = cfg
        self.n_classes = n_classes
        c = cfg.channels
        self.stem_conv = nn.Conv1d(n_leads, c, cfg.kernel_size, stride=cfg.stem_stride,
                                   padding=cfg.kernel_size // 2, bias=False)
        self.stem_bn = nn.BatchNorm1d(c)
        self.stem_relu = nn.ReLU()
        self.blocks = nn.Sequential(*[
            ResidualBlock(c, cfg.kernel_size, d, s) for d, s in zip(cfg.dilations, cfg.block_strides)
        ])
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem_relu(self.stem_bn(self.stem_conv(x)))
        h = self.blocks(h)
        return self.head(self.dropout(self.flatten(self.pool(h))))

    @property
    def last_conv(self) -> nn.Module:
        """The last block's output stage (after its final ReLU), the Grad-CAM layer."""
        return self.blocks[-1]

    def randomizable_layers(self) -> list[tuple[str, nn.Module]]:
        """Parameterised stages, top (logits) to bottom (first conv), for Experiment 3.

        Each stage is a named module whose parameters are re-initialised together: the head,
        then each residual block (last first), then the stem (conv + BatchNorm).
        """
        stages: list[tuple[str, nn.Module]] = [("head", self.head)]
        for i in reversed(range(len(self.blocks))):
            stages.append((f"blocks.{i}", self.blocks[i]))
        stages.append(("stem", nn.ModuleList([self.stem_conv, self.stem_bn])))
        return stages


def build_model(n_classes: int, config: ModelConfig | None = None, n_leads: int = 12) -> ECGCNN:
    """The default CNN for ``n_classes`` classes (weights from torch's default init)."""
    return ECGCNN(n_classes=n_classes, n_leads=n_leads, config=config)


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
