"""Process memory figures on Linux (RSS, peak RSS, available memory), without psutil."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
from pathlib import Path

__all__ = [
    "available_memory",
    "current_rss",
    "format_bytes",
    "peak_rss",
    "reset_peak_rss",
    "trim_heap",
]


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss() -> int:
    """Resident memory of this process, bytes.

    Example:
        >>> current_rss() > 0
        True
    """
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    return peak_rss()


def peak_rss() -> int:
    """Peak resident memory of this process since start (or the last reset), bytes.

    Example:
        >>> peak_rss() >= current_rss() // 2
        True
    """
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def reset_peak_rss() -> bool:
    """Reset the peak to the current RSS (Linux ``clear_refs``); False when unsupported.

    Example:
        >>> isinstance(reset_peak_rss(), bool)
        True
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``), so RSS is honest.

    Example:
        >>> trim_heap()
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def available_memory() -> int:
    """Memory available to new allocations (``MemAvailable``), bytes.

    Example:
        >>> available_memory() > 0
        True
    """
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # pragma: no cover - non-POSIX
        return 4 << 30


def format_bytes(n: float) -> str:
    """Bytes as a short human figure.

    Example:
        >>> format_bytes(1536 * 1024 ** 2), format_bytes(2048)
        ('1.50 GiB', '2.0 KiB')
    """
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}" if unit == "GiB" else f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"
