"""Exponential moving average of model weights (evaluated and exported instead of the raw)."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["ModelEMA"]


class ModelEMA:
    """Keeps ``ema = d * ema + (1 - d) * model`` with ``d`` ramping up to ``decay``.

    ``d = decay * (1 - exp(-updates / tau))``, so early updates follow the model closely.

    Example:
        >>> import torch
        >>> m = torch.nn.Linear(2, 1)
        >>> ema = ModelEMA(m, tau=1.0)
        >>> ema.update(m); ema.updates
        1
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0) -> None:
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay = float(decay)
        self.tau = float(tau)
        self.updates = 0

    def update(self, model: nn.Module) -> None:
        """Blend the model's current weights in."""
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        with torch.no_grad():
            msd = model.state_dict()
            for k, v in self.ema.state_dict().items():
                if v.dtype.is_floating_point:
                    v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
                else:
                    v.copy_(msd[k])
