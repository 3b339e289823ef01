"""Building blocks of the detector: conv-BN-SiLU, C2f bottleneck stacks and SPPF."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["C2f", "Conv", "SPPF"]


class Conv(nn.Module):
    """Convolution, batch norm and SiLU; ``padding`` keeps the size at stride 1.

    Example:
        >>> import torch
        >>> Conv(3, 8, 3, 2)(torch.zeros(1, 3, 16, 16)).shape
        torch.Size([1, 8, 8, 8])
    """

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply conv, norm and activation."""
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3 x 3 convolutions with a residual connection."""

    def __init__(self, c: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the two convolutions (plus the input)."""
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """Split, ``n`` chained bottlenecks on one half, concatenate every stage, fuse (1 x 1).

    Example:
        >>> import torch
        >>> C2f(16, 32, n=2)(torch.zeros(1, 16, 8, 8)).shape
        torch.Size([1, 32, 8, 8])
    """

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        y = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            y.append(block(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained max-pools, concatenated.

    Example:
        >>> import torch
        >>> SPPF(32, 32)(torch.zeros(1, 32, 5, 5)).shape
        torch.Size([1, 32, 5, 5])
    """

    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1)
        self.cv2 = Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))
