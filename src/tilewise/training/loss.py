"""Anchor assignment and loss (YOLOv5's recipe, written for this two-level detector).

Assignment: a label goes to every anchor of a level whose width and height ratios to it
are both within ``[1 / anchor_t, anchor_t]``, in its own grid cell and the two nearest
neighbouring cells (the ``2 sigmoid - 0.5`` offsets reach them). Loss: CIoU for boxes,
BCE for objectness (target: the detached IoU, per-level balance) and for classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from tilewise.training.detector import Detect

__all__ = ["DetectionLoss", "LossGains", "bbox_ciou"]


def bbox_ciou(box1: torch.Tensor, box2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of matching (n, 4) boxes given as (cx, cy, w, h).

    Example:
        >>> import torch
        >>> b = torch.tensor([[5.0, 5.0, 4.0, 4.0]])
        >>> round(float(bbox_ciou(b, b)[0]), 4)
        1.0
    """
    b1x1, b1x2 = box1[:, 0] - box1[:, 2] / 2, box1[:, 0] + box1[:, 2] / 2
    b1y1, b1y2 = box1[:, 1] - box1[:, 3] / 2, box1[:, 1] + box1[:, 3] / 2
    b2x1, b2x2 = box2[:, 0] - box2[:, 2] / 2, box2[:, 0] + box2[:, 2] / 2
    b2y1, b2y2 = box2[:, 1] - box2[:, 3] / 2, box2[:, 1] + box2[:, 3] / 2
    inter = (torch.min(b1x2, b2x2) - torch.max(b1x1, b2x1)).clamp(0) * (
        torch.min(b1y2, b2y2) - torch.max(b1y1, b2y1)
    ).clamp(0)
    w1, h1 = box1[:, 2], box1[:, 3] + eps
    w2, h2 = box2[:, 2], box2[:, 3] + eps
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.max(b1x2, b2x2) - torch.min(b1x1, b2x1)
    ch = torch.max(b1y2, b2y2) - torch.min(b1y1, b2y1)
    c2 = cw**2 + ch**2 + eps
    rho2 = (box2[:, 0] - box1[:, 0]) ** 2 + (box2[:, 1] - box1[:, 1]) ** 2
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


@dataclass(frozen=True)
class LossGains:
    """Weights of the loss terms (YOLOv5's defaults at 640 px, 3 levels).

    They are rescaled for 2 levels, the class count and the input size as YOLOv5 does.
    """

    box: float = 0.05
    obj: float = 1.0
    cls: float = 0.5
    anchor_t: float = 4.0
    balance: tuple[float, float] = (4.0, 1.0)


_OFFSETS = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float32)


class DetectionLoss:
    """The training loss of ``TileDetector``.

    Call it with the model's training-mode output and the targets ``(n, 6)``: image index
    in the batch, class, box centre x, centre y, width, height in input pixels. Returns
    ``(total, parts)`` where ``total`` is summed over the batch (YOLOv5's convention: it
    scales with the batch size) and ``parts`` the detached box, objectness and class
    terms per image.
    """

    def __init__(self, head: Detect, img_size: int, gains: LossGains | None = None) -> None:
        g = gains or LossGains()
        nl = head.nl
        self.head = head
        self.anchor_t = g.anchor_t
        self.balance = g.balance
        self.box_gain = g.box * 3 / nl
        self.cls_gain = g.cls * head.nc / 80 * 3 / nl
        self.obj_gain = g.obj * (img_size / 640) ** 2 * 3 / nl
        self.bce = nn.BCEWithLogitsLoss()

    def _build_targets(
        self, raw: list[torch.Tensor], targets: torch.Tensor
    ) -> list[tuple[torch.Tensor, ...]]:
        head = self.head
        na, nt = head.na, targets.shape[0]
        out = []
        ai = torch.arange(na, device=targets.device, dtype=targets.dtype).view(na, 1).repeat(1, nt)
        t_all = torch.cat((targets.repeat(na, 1, 1), ai[..., None]), 2)  # (na, nt, 7)
        offsets = _OFFSETS.to(targets.device, targets.dtype) * 0.5
        for i, p in enumerate(raw):
            _, _, ny, nx, _ = p.shape
            stride = head.stride[i]
            anchors = head.anchors_px[i] / stride  # grid units
            t = t_all.clone()
            t[..., 2:6] = t[..., 2:6] / stride
            if nt:
                r = t[..., 4:6] / anchors[:, None]
                keep = torch.max(r, 1 / r).max(2)[0] < self.anchor_t
                t = t[keep]
                gxy = t[:, 2:4]
                gxi = torch.tensor([nx, ny], device=t.device, dtype=t.dtype) - gxy
                j, k = ((gxy % 1 < 0.5) & (gxy > 1)).T
                m_, n_ = ((gxi % 1 < 0.5) & (gxi > 1)).T
                sel = torch.stack((torch.ones_like(j), j, k, m_, n_))
                t = t.repeat((5, 1, 1))[sel]
                offs = (torch.zeros_like(gxy)[None] + offsets[:, None])[sel]
            else:
                t = t_all[0][:0]
                offs = torch.zeros((0, 2), device=targets.device, dtype=targets.dtype)
            b, cls = t[:, 0].long(), t[:, 1].long()
            gxy, gwh = t[:, 2:4], t[:, 4:6]
            gij = (gxy - offs).long()
            gi = gij[:, 0].clamp_(0, nx - 1)
            gj = gij[:, 1].clamp_(0, ny - 1)
            a = t[:, 6].long()
            tbox = torch.cat((gxy - torch.stack((gi, gj), 1), gwh), 1)
            out.append((b, a, gj, gi, tbox, anchors[a], cls))
        return out

    def __call__(
        self, raw: list[torch.Tensor], targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the loss (see the class docstring)."""
        device = raw[0].device
        lbox = torch.zeros(1, device=device)
        lobj = torch.zeros(1, device=device)
        lcls = torch.zeros(1, device=device)
        for i, (b, a, gj, gi, tbox, anch, cls) in enumerate(self._build_targets(raw, targets)):
            p = raw[i].float()
            tobj = torch.zeros(p.shape[:4], dtype=p.dtype, device=device)
            if b.shape[0]:
                ps = p[b, a, gj, gi]
                pxy = ps[:, :2].sigmoid() * 2 - 0.5
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * anch
                iou = bbox_ciou(torch.cat((pxy, pwh), 1), tbox)
                lbox = lbox + (1.0 - iou).mean()
                score = iou.detach().clamp(0).to(tobj.dtype)
                order = score.argsort()  # the best match of a cell is written last
                tobj[b[order], a[order], gj[order], gi[order]] = score[order]
                if self.head.nc > 1:
                    tc = torch.zeros_like(ps[:, 5:])
                    tc[torch.arange(b.shape[0], device=device), cls] = 1.0
                    lcls = lcls + self.bce(ps[:, 5:], tc)
            lobj = lobj + self.bce(p[..., 4], tobj) * self.balance[i]
        lbox = lbox * self.box_gain
        lobj = lobj * self.obj_gain
        lcls = lcls * self.cls_gain
        bs = raw[0].shape[0]
        return (lbox + lobj + lcls) * bs, torch.cat((lbox, lobj, lcls)).detach()
