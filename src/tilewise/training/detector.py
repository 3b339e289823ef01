"""A compact anchor-based single-stage detector for small objects (stride 8 and 16).

Backbone: a strided conv stem and C2f stages down to stride 32 with SPPF; neck: a
top-down path to stride 8 and a bottom-up step back to 16; head: per level, a 1 x 1
prediction of
``anchors x (4 box + 1 objectness + C classes)`` (YOLOv5's anchor-based parametrisation:
``xy = 2 sigmoid - 0.5`` cells, ``wh = (2 sigmoid)^2 x anchor``).

In training mode the model returns the raw per-level maps for the loss; in eval mode it
returns the decoded YOLOv8 layout ``[B, 4 + C, A]`` (box centre and size in input pixels,
class scores = objectness x class probability), which is also what ONNX export writes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tilewise.training.config import STRIDES, DetectorConfig
from tilewise.training.layers import SPPF, C2f, Conv

__all__ = ["Detect", "TileDetector", "count_parameters"]


class Detect(nn.Module):
    """The anchor-based prediction head over the P3 and P4 feature maps."""

    def __init__(self, cfg: DetectorConfig, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.nc = int(cfg.num_classes)
        self.no = self.nc + 5
        self.na = cfg.num_anchors
        self.nl = len(STRIDES)
        self.register_buffer("stride", torch.tensor(STRIDES, dtype=torch.float32))
        anchors = torch.tensor(cfg.anchors, dtype=torch.float32)  # (nl, na, 2) px
        self.register_buffer("anchors_px", anchors)
        self.preds = nn.ModuleList(nn.Conv2d(c, self.na * self.no, 1) for c in channels)

    def init_biases(self, img_size: int = 640, objects_per_image: float = 8.0) -> None:
        """Start objectness and class scores near their priors (YOLOv5's initialisation)."""
        for conv, s in zip(self.preds, STRIDES, strict=True):
            b = conv.bias.view(self.na, -1)
            with torch.no_grad():
                b[:, 4] += math.log(objects_per_image / (img_size / s) ** 2)
                b[:, 5:] += math.log(0.6 / max(self.nc - 0.99, 0.01))

    def raw(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per level, the raw predictions ``[B, anchors, H, W, 5 + C]``."""
        out = []
        for i, x in enumerate(feats):
            p = self.preds[i](x)
            bs, _, ny, nx = p.shape
            out.append(p.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous())
        return out

    def decode(self, raw: list[torch.Tensor]) -> torch.Tensor:
        """Raw maps to the YOLOv8 layout ``[B, 4 + C, A]`` in input pixels."""
        parts = []
        for i, p in enumerate(raw):
            bs, na, ny, nx, _ = p.shape
            y = p.sigmoid()
            gy, gx = torch.meshgrid(
                torch.arange(ny, dtype=y.dtype, device=y.device),
                torch.arange(nx, dtype=y.dtype, device=y.device),
                indexing="ij",
            )
            grid = torch.stack((gx, gy), -1).view(1, 1, ny, nx, 2)
            anchor = self.anchors_px[i].view(1, na, 1, 1, 2)
            xy = (y[..., :2] * 2 - 0.5 + grid) * self.stride[i]
            wh = (y[..., 2:4] * 2) ** 2 * anchor
            scores = y[..., 5:] * y[..., 4:5]
            parts.append(torch.cat((xy, wh, scores), -1).view(bs, -1, 4 + self.nc))
        return torch.cat(parts, 1).permute(0, 2, 1)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor] | torch.Tensor:
        """Raw maps in training mode, the decoded YOLOv8 layout in eval mode."""
        raw = self.raw(feats)
        return raw if self.training else self.decode(raw)


class TileDetector(nn.Module):
    """The tilewise detector: ~1-3 M parameters, detection at strides 8 and 16, anchor-based.

    Most parameters sit at strides 16 and 32 (cheap in compute); the stride-8 level, where
    the smallest objects are found, gets context through a top-down path from stride 32.

    Example:
        >>> import torch
        >>> model = TileDetector(DetectorConfig(num_classes=6)).eval()
        >>> model(torch.zeros(2, 3, 64, 64)).shape  # 3 anchors x (8 x 8 + 4 x 4) cells
        torch.Size([2, 10, 240])
    """

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w1, w2, w3, w4, w5 = cfg.widths
        d2, d3, d4, d5 = cfg.depths
        self.stem = Conv(3, w1, 3, 2)
        self.stage2 = nn.Sequential(Conv(w1, w2, 3, 2), C2f(w2, w2, d2))
        self.stage3 = nn.Sequential(Conv(w2, w3, 3, 2), C2f(w3, w3, d3))
        self.stage4 = nn.Sequential(Conv(w3, w4, 3, 2), C2f(w4, w4, d4))
        self.stage5 = nn.Sequential(Conv(w4, w5, 3, 2), C2f(w5, w5, d5), SPPF(w5, w5))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top4 = C2f(w5 + w4, w4, 1, shortcut=False)
        self.top3 = C2f(w4 + w3, w3, 1, shortcut=False)
        self.down3 = Conv(w3, w3, 3, 2)
        self.out4 = C2f(w3 + w4, w4, 1, shortcut=False)
        self.detect = Detect(cfg, (w3, w4))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """Images ``[B, 3, H, W]`` (RGB in [0, 1], H and W multiples of 32) to predictions."""
        p3 = self.stage3(self.stage2(self.stem(x)))
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        t4 = self.top4(torch.cat((self.up(p5), p4), 1))
        n3 = self.top3(torch.cat((self.up(t4), p3), 1))
        n4 = self.out4(torch.cat((self.down3(n3), t4), 1))
        return self.detect([n3, n4])


def count_parameters(model: nn.Module) -> int:
    """Number of parameters.

    Example:
        >>> 1_000_000 <= count_parameters(TileDetector(DetectorConfig(num_classes=6))) <= 3_000_000
        True
    """
    return sum(p.numel() for p in model.parameters())
