"""Choosing the batch size by measured memory: profile a few sizes, fit, pick, or refuse.

On CPU the figure is the growth of the process's peak resident memory (``VmHWM``, reset
before profiling) over a training step; on CUDA it is the allocator's peak. Sizes are
profiled in increasing order, so memory freed by one step and reused by the next is
still counted. A straight line ``fixed + per_image x batch`` through the measurements
predicts larger batches; ``settle_batch`` then runs the chosen batch once when it was not
among the measured sizes, so that the batch used is measured, not extrapolated (memory
that grows faster than linearly would otherwise be under-predicted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tilewise.errors import TilewiseError
from tilewise.training.memory import (
    available_memory,
    current_rss,
    format_bytes,
    peak_rss,
    reset_peak_rss,
    trim_heap,
)

__all__ = [
    "BatchMemoryError",
    "MemoryProfile",
    "auto_batch",
    "check_batch",
    "memory_budget",
    "profile_memory",
    "settle_batch",
]


class BatchMemoryError(TilewiseError):
    """A batch size does not fit the memory budget; the message gives the measured figures."""


@dataclass(frozen=True)
class MemoryProfile:
    """Measured training-step memory at a few batch sizes, with a linear fit.

    Attributes:
        sizes: the batch sizes measured.
        peaks: bytes each step needed beyond the memory in use before profiling.
        seconds: seconds each step took.
        source: ``"cpu-rss"`` or ``"cuda"``.
        img_size: the input size profiled.
        base: the bytes in use before profiling, which ``peaks`` are counted from (a
            later measurement passes it to ``profile_memory`` to count from the same).
    """

    sizes: tuple[int, ...]
    peaks: tuple[int, ...]
    seconds: tuple[float, ...]
    source: str
    img_size: int
    base: int = 0

    @property
    def fit(self) -> tuple[float, float]:
        """(fixed bytes, bytes per image) of the least-squares line (per image >= 0).

        Example:
            >>> MemoryProfile((1, 2, 4), (300, 500, 900), (0, 0, 0), "cpu-rss", 64).fit
            (100.0, 200.0)
        """
        x = np.asarray(self.sizes, dtype=np.float64)
        y = np.asarray(self.peaks, dtype=np.float64)
        if len(x) < 2 or np.ptp(x) == 0:
            return 0.0, float(y.max() / max(x.max(), 1))
        slope, intercept = np.polyfit(x, y, 1)
        slope = max(float(slope), 0.0)
        if slope == 0.0:
            slope = float(y.max() / x.max())
        return round(max(float(intercept), 0.0), 3), round(slope, 3)

    def with_measurement(self, batch: int, peak: int, seconds: float) -> MemoryProfile:
        """This profile with one more measured size (replacing that size if measured).

        Example:
            >>> p = MemoryProfile((1, 4), (300, 900), (0.1, 0.4), "cpu-rss", 64)
            >>> p.with_measurement(2, 500, 0.2).sizes
            (1, 2, 4)
        """
        rows = {s: (p, t) for s, p, t in zip(self.sizes, self.peaks, self.seconds, strict=True)}
        rows[int(batch)] = (int(peak), float(seconds))
        order = sorted(rows)
        return MemoryProfile(
            tuple(order),
            tuple(rows[s][0] for s in order),
            tuple(rows[s][1] for s in order),
            self.source,
            self.img_size,
            self.base,
        )

    @property
    def measured(self) -> dict[int, int]:
        """The measured peak bytes by batch size.

        Example:
            >>> MemoryProfile((1, 2), (300, 500), (0, 0), "cpu-rss", 64).measured
            {1: 300, 2: 500}
        """
        return dict(zip(self.sizes, self.peaks, strict=True))

    def predict(self, batch: int) -> float:
        """Predicted bytes a step at ``batch`` needs (at least the measured peak).

        Example:
            >>> MemoryProfile((1, 2), (300, 500), (0, 0), "cpu-rss", 64).predict(10)
            2100.0
        """
        fixed, per = self.fit
        return float(max(fixed + per * batch, self.measured.get(batch, 0)))

    def describe(self) -> str:
        """The measurements in words, for messages.

        Example:
            >>> MemoryProfile((1, 2), (1 << 20, 3 << 20), (0, 0), "cpu-rss", 64).describe()
            'measured 1.0 MiB at batch 1, 3.0 MiB at batch 2 (2.0 MiB per image, cpu-rss, 64 px)'
        """
        parts = ", ".join(
            f"{format_bytes(p)} at batch {s}" for s, p in zip(self.sizes, self.peaks, strict=True)
        )
        return (
            f"measured {parts} ({format_bytes(self.fit[1])} per image, "
            f"{self.source}, {self.img_size} px)"
        )


def memory_budget(
    device: str = "cpu", *, budget_gb: float | None = None, fraction: float = 0.6
) -> tuple[int, str]:
    """The memory a training step may use, bytes, and how it was set (for messages).

    Example:
        >>> memory_budget(budget_gb=2.0)
        (2147483648, 'budget 2.00 GiB (given)')
    """
    if budget_gb is not None:
        if budget_gb <= 0:
            raise TilewiseError(f"memory budget must be > 0 GB, got {budget_gb}")
        b = int(budget_gb * (1 << 30))
        return b, f"budget {format_bytes(b)} (given)"
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        b = int(free * fraction)
        return b, f"budget {format_bytes(b)} ({fraction:.0%} of {format_bytes(free)} free on GPU)"
    avail = available_memory()
    b = int(avail * fraction)
    return b, f"budget {format_bytes(b)} ({fraction:.0%} of {format_bytes(avail)} available)"


def _fake_batch(batch: int, img_size: int, num_classes: int, device: str) -> tuple:
    gen = torch.Generator().manual_seed(batch)
    images = torch.rand(batch, 3, img_size, img_size, generator=gen)
    per = 8
    rows = torch.zeros(batch * per, 6)
    rows[:, 0] = torch.arange(batch).repeat_interleave(per).float()
    rows[:, 1] = torch.randint(0, num_classes, (batch * per,), generator=gen).float()
    rows[:, 2:4] = torch.rand(batch * per, 2, generator=gen) * (img_size - 40) + 20
    rows[:, 4:6] = torch.rand(batch * per, 2, generator=gen) * 28 + 4
    return images.to(device), rows.to(device)


def profile_memory(
    step: Callable[[torch.Tensor, torch.Tensor], None],
    *,
    img_size: int,
    num_classes: int,
    sizes: Sequence[int] = (1, 2, 4),
    device: str = "cpu",
    base: int | None = None,
) -> MemoryProfile:
    """Measure the peak memory of ``step(images, targets)`` (one forward and backward).

    ``step`` must run a complete training step (gradients included) and release its
    tensors on return; sizes are measured in increasing order. ``base``: count the peaks
    from these bytes in use (an earlier profile's ``base``, so that what its steps left
    allocated, such as optimiser state, still counts) instead of those in use now.
    """
    cuda = device.startswith("cuda")
    order = sorted({int(s) for s in sizes})
    if not order or order[0] < 1:
        raise TilewiseError(f"profile sizes must be >= 1, got {sizes!r}")
    peaks, secs = [], []
    if cuda:
        torch.cuda.synchronize(device)
    else:
        trim_heap()
        reset_peak_rss()
    if base is None:
        base = torch.cuda.memory_allocated(device) if cuda else current_rss()
    for b in order:
        images, targets = _fake_batch(b, img_size, num_classes, device)
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        step(images, targets)
        if cuda:
            torch.cuda.synchronize(device)
            peaks.append(int(torch.cuda.max_memory_allocated(device) - base))
        else:
            peaks.append(int(max(peak_rss() - base, 0)))
        secs.append(time.perf_counter() - t0)
        del images, targets
    return MemoryProfile(
        tuple(order), tuple(peaks), tuple(secs), "cuda" if cuda else "cpu-rss", img_size, base
    )


def auto_batch(profile: MemoryProfile, budget: int, *, max_batch: int) -> int:
    """The largest batch (<= ``max_batch``) whose predicted need fits ``budget``.

    Raises:
        BatchMemoryError: not even the smallest profiled batch fits.

    Example:
        >>> p = MemoryProfile((1, 2, 4), (300, 500, 900), (0, 0, 0), "cpu-rss", 64)
        >>> auto_batch(p, budget=2000, max_batch=64)
        9
    """
    if profile.predict(1) > budget:
        raise BatchMemoryError(
            f"even batch 1 needs about {format_bytes(profile.predict(1))}, more than the "
            f"{format_bytes(budget)} budget ({profile.describe()}); lower --img-size or raise "
            "the memory budget"
        )
    best = 1
    for b in range(1, int(max_batch) + 1):
        if profile.predict(b) <= budget:
            best = b
    return best


def settle_batch(
    profile: MemoryProfile,
    budget: int,
    *,
    max_batch: int,
    measure: Callable[[int], tuple[int, float]],
    tries: int = 3,
) -> tuple[int, MemoryProfile]:
    """``auto_batch``'s choice, measured: the batch returned has a measured peak in budget.

    A chosen batch that was not profiled is run once (``measure(batch)`` gives its peak
    bytes and seconds). If it does not fit, the measurement joins the profile, and the
    largest batch under it predicted to fit (or measured to fit, if larger) is tried, up
    to ``tries`` runs; then the largest measured batch that fit is taken.

    Raises:
        BatchMemoryError: not even the smallest profiled batch fits (as ``auto_batch``).

    Example:
        >>> p = MemoryProfile((1, 2, 4), (300, 500, 900), (0, 0, 0), "cpu-rss", 64)
        >>> convex = lambda b: (100 + 200 * b + 10 * b * b, 0.0)  # more than the line says
        >>> batch, seen = settle_batch(p, 2000, max_batch=64, measure=convex)
        >>> batch, seen.sizes, convex(batch)[0] <= 2000
        (6, (1, 2, 4, 6, 9), True)
    """
    limit = int(max_batch)
    batch = auto_batch(profile, budget, max_batch=limit)
    for _ in range(max(int(tries), 0)):
        if batch in profile.sizes:
            return batch, profile
        peak, seconds = measure(batch)
        profile = profile.with_measurement(batch, peak, seconds)
        if peak <= budget:
            return batch, profile
        limit = batch - 1
        try:  # the refitted line, or the largest measured batch that fits, if larger
            guess = auto_batch(profile, budget, max_batch=limit)
        except BatchMemoryError:
            guess = 0
        batch = max(guess, _largest_measured_fit(profile, budget, limit))
        if batch == 0:
            break
    batch = _largest_measured_fit(profile, budget, limit)
    if batch == 0:
        raise BatchMemoryError(f"no measured batch fits the budget ({profile.describe()})")
    return batch, profile


def _largest_measured_fit(profile: MemoryProfile, budget: int, limit: int) -> int:
    """The largest measured batch up to ``limit`` whose peak fits ``budget``, or 0."""
    fits = [s for s, p in profile.measured.items() if p <= budget and s <= limit]
    return max(fits, default=0)


def check_batch(profile: MemoryProfile, batch: int, budget: int, budget_text: str = "") -> None:
    """Refuse a batch size predicted not to fit, naming the figures and a size that would.

    Raises:
        BatchMemoryError: ``batch`` is predicted to need more than ``budget``.

    Example:
        >>> p = MemoryProfile((1, 2), (1 << 30, 2 << 30), (0, 0), "cpu-rss", 640)
        >>> try:
        ...     check_batch(p, 64, budget=8 << 30)
        ... except BatchMemoryError as exc:
        ...     print(str(exc).split(";")[0])
        batch 64 needs about 64.00 GiB at 640 px, more than the 8.00 GiB budget
    """
    need = profile.predict(batch)
    if need <= budget:
        return
    fits = [b for b in range(1, batch) if profile.predict(b) <= budget]
    hint = f"use --batch {fits[-1]} or less, or --batch auto" if fits else "lower --img-size"
    extra = f" ({budget_text})" if budget_text else ""
    raise BatchMemoryError(
        f"batch {batch} needs about {format_bytes(need)} at {profile.img_size} px, more than "
        f"the {format_bytes(budget)} budget{extra}; {profile.describe()}; {hint}"
    )
