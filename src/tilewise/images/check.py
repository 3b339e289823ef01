"""``check_images``: a fast scan of image files before a long job.

Every file's header is read; unless ``decode=False`` its data is decoded too (JPEGs at
1/8 scale, which still reads the whole stream), so the decoder says whether it is
complete. Problems make ``CheckReport.ok`` false (and ``tilewise check`` exit 1):
unreadable, truncated, over the pixel limit, duplicate content. Notices are reported but
do not fail the check unless ``strict``: EXIF-rotated, more than 8 bits per sample.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO, Any

from tilewise.errors import TilewiseError
from tilewise.images.header import ImageHeader, open_with_pillow, read_header
from tilewise.images.options import ReadOptions

__all__ = [
    "IMAGE_SUFFIXES",
    "CheckReport",
    "FileCheck",
    "Finding",
    "check_images",
    "file_sample_sha256",
    "file_sha256",
    "image_files",
]

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jp2", ".pgm", ".ppm"}
)
"""Suffixes ``image_files`` collects from directories (explicit files are always taken)."""


class Finding(str, Enum):
    """What ``check_images`` can report about a file."""

    UNREADABLE = "unreadable"
    TRUNCATED = "truncated"
    OVER_LIMIT = "over_limit"
    DUPLICATE = "duplicate"
    EXIF_ROTATED = "exif_rotated"
    HIGH_BIT_DEPTH = "high_bit_depth"

    @property
    def is_problem(self) -> bool:
        """Problems fail a check; notices only fail it when strict."""
        return self in (
            Finding.UNREADABLE,
            Finding.TRUNCATED,
            Finding.OVER_LIMIT,
            Finding.DUPLICATE,
        )


@dataclass
class FileCheck:
    """The findings about one file.

    Attributes:
        path: the file.
        findings: what was found (empty: the file is fine).
        detail: a message per finding.
        header: the header, when it could be read.
        sha256: hex digest of the file's bytes ("" when it could not be read).
        duplicate_of: the first file (in scan order) with the same content.
    """

    path: Path
    findings: list[Finding] = field(default_factory=list)
    detail: dict[str, str] = field(default_factory=dict)
    header: ImageHeader | None = None
    sha256: str = ""
    duplicate_of: Path | None = None

    def add(self, finding: Finding, message: str) -> None:
        """Record a finding with its message."""
        if finding not in self.findings:
            self.findings.append(finding)
        self.detail[finding.value] = message

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        h = self.header
        return {
            "path": str(self.path),
            "findings": [f.value for f in self.findings],
            "detail": dict(self.detail),
            "format": h.format if h else None,
            "stored_wh": list(h.stored_wh) if h else None,
            "orientation": h.orientation if h else None,
            "bits": h.bits if h else None,
            "bands": h.bands if h else None,
            "sha256": self.sha256,
            "duplicate_of": str(self.duplicate_of) if self.duplicate_of else None,
        }


@dataclass
class CheckReport:
    """All files checked; ``ok`` when no file has a problem (or a notice, when strict).

    Example:
        >>> CheckReport([], strict=False).ok
        True
    """

    files: list[FileCheck]
    strict: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return not any(f.is_problem or self.strict for fc in self.files for f in fc.findings)

    def counts(self) -> dict[str, int]:
        """Files per finding, plus ``files`` and ``clean``.

        Example:
            >>> fc = FileCheck(Path("a.jpg")); fc.add(Finding.TRUNCATED, "cut")
            >>> CheckReport([fc, FileCheck(Path("b.jpg"))]).counts()["truncated"]
            1
        """
        out = {"files": len(self.files), "clean": sum(not fc.findings for fc in self.files)}
        for finding in Finding:
            out[finding.value] = sum(finding in fc.findings for fc in self.files)
        return out

    def table(self) -> str:
        """A plain-text table of the files with findings, then the counts.

        Example:
            >>> print(CheckReport([FileCheck(Path("a.png"))]).table().splitlines()[-1])
            1 file(s): 1 clean
        """
        flagged = [fc for fc in self.files if fc.findings]
        lines: list[str] = []
        if flagged:
            width = max(4, *(len(str(fc.path)) for fc in flagged))
            lines.append(f"{'file':<{width}}  {'kind':<7}  {'finding':<14}  detail")
            for fc in flagged:
                for finding in fc.findings:
                    kind = "problem" if finding.is_problem or self.strict else "notice"
                    lines.append(
                        f"{fc.path!s:<{width}}  {kind:<7}  {finding.value:<14}  "
                        f"{fc.detail.get(finding.value, '')}"
                    )
            lines.append("")
        counts = self.counts()
        found = ", ".join(f"{counts[f.value]} {f.value}" for f in Finding if counts[f.value])
        lines.append(
            f"{counts['files']} file(s): {counts['clean']} clean" + (f"; {found}" if found else "")
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report: options, counts, ok, and one entry per file."""
        return {
            "ok": self.ok,
            "strict": self.strict,
            "options": dict(self.options),
            "counts": self.counts(),
            "files": [fc.to_dict() for fc in self.files],
        }


def image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and directories (recursively, by ``IMAGE_SUFFIXES``) into a sorted list.

    Raises:
        TilewiseError: a path does not exist.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a.JPG").write_bytes(b"x")
        1
        >>> (d / "notes.txt").write_text("x"); [p.name for p in image_files([d])]
        1
        ['a.JPG']
    """
    out: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            out.extend(
                sorted(
                    f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                )
            )
        elif p.is_file():
            out.append(p)
        else:
            raise TilewiseError(f"no such file or directory: {p}")
    return out


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 hex digest of a file's bytes, read in 1 MiB chunks (memory stays flat).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a"
        >>> _ = p.write_bytes(b"abc")
        >>> file_sha256(p)[:16]
        'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        _hash_rest(h, fh)
    return h.hexdigest()


def _hash_rest(h: Any, fh: IO[bytes]) -> None:
    """Feed the rest of ``fh`` to ``h`` in 1 MiB chunks (memory stays flat)."""
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)


def file_sample_sha256(
    path: str | os.PathLike[str], *, blocks: int = 64, block_bytes: int = 1 << 16
) -> str:
    """The SHA-256 of a file's size and of ``blocks`` blocks spread evenly through it.

    For files too big to read whole each time a job decides whether to resume (a raster
    of many gigabytes): it reads at most ``blocks * block_bytes`` bytes (4 MiB by
    default), always the first and the last block. A file no bigger than that is hashed
    whole (with its size), so the result then differs from ``file_sha256``'s. It catches
    a file rewritten at its old size and modification time when the change reaches a
    sampled block; in a compressed, tiled TIFF, whose tile byte counts sit in the header
    at its start, almost any re-encoded tile does. An edit of an uncompressed file
    between the sampled blocks goes unseen: hash it whole with ``file_sha256`` when
    that matters.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a"
        >>> _ = p.write_bytes(bytes(1000))
        >>> a = file_sample_sha256(p, blocks=4, block_bytes=10)
        >>> _ = p.write_bytes(bytes(999) + b"x")  # the last block changed
        >>> a == file_sample_sha256(p, blocks=4, block_bytes=10)
        False
    """
    if blocks < 2 or block_bytes < 1:
        raise TilewiseError(
            f"need at least 2 blocks of at least 1 byte, got {blocks} of {block_bytes}"
        )
    size = os.path.getsize(path)
    h = hashlib.sha256(f"{size}\n".encode())
    with open(path, "rb") as fh:
        if size <= blocks * block_bytes:
            _hash_rest(h, fh)
            return h.hexdigest()
        last = size - block_bytes
        for k in range(blocks):
            fh.seek(last * k // (blocks - 1))
            h.update(fh.read(block_bytes))
    return h.hexdigest()


def _decodes_completely(header: ImageHeader) -> tuple[bool, str]:
    """(complete, message): decode the data and ask the decoder whether it was all there."""
    if header.decoder == "opencv":
        import cv2

        try:
            ok = cv2.imread(str(header.path), cv2.IMREAD_UNCHANGED) is not None
        except cv2.error as exc:
            return False, str(exc)
        return ok, "" if ok else "OpenCV could not decode it (corrupt or truncated)"
    with open(header.path, "rb") as fh:
        im = open_with_pillow(fh, header.path)
        if im is None:
            return False, "no decoder accepts it"
        try:
            if header.format == "JPEG":
                w, h = header.stored_wh
                im.draft(im.mode, (max(1, w // 8), max(1, h // 8)))
            im.load()
        except OSError as exc:
            return False, str(exc)
        except (ValueError, SyntaxError) as exc:
            return False, f"corrupt: {exc}"
        finally:
            im.close()
    return True, ""


def _check_one(path: Path, limit: int, decode: bool) -> FileCheck:
    fc = FileCheck(path)
    try:
        fc.sha256 = file_sha256(path)
        header = read_header(path)
    except (TilewiseError, OSError) as exc:
        fc.add(Finding.UNREADABLE, str(exc))
        return fc
    fc.header = header
    w, h = header.stored_wh
    if header.rotated:
        dw, dh = header.display_wh()
        fc.add(
            Finding.EXIF_ROTATED,
            f"EXIF orientation {header.orientation}: stored {w}x{h}, displayed {dw}x{dh}",
        )
    if header.bits > 8:
        fc.add(
            Finding.HIGH_BIT_DEPTH,
            f"{header.bits}-bit {header.sample}, {header.bands} band(s): scaled to 8 bits",
        )
    if header.pixels > limit:
        fc.add(
            Finding.OVER_LIMIT,
            f"{w}x{h} = {header.pixels / 1e6:,.1f} MP, over the limit of {limit / 1e6:,.1f} MP",
        )
        return fc
    if decode:
        complete, message = _decodes_completely(header)
        if not complete:
            truncated = "truncated" in message.lower()
            fc.add(Finding.TRUNCATED if truncated else Finding.UNREADABLE, message)
    return fc


def check_images(
    paths: Sequence[str | os.PathLike[str]],
    options: ReadOptions | None = None,
    *,
    decode: bool = True,
    strict: bool = False,
    workers: int | None = None,
) -> CheckReport:
    """Check image files (directories are scanned recursively) before a long job.

    Args:
        paths: files and directories.
        options: the reading policy; its pixel limit is the one checked.
        decode: also decode each file to find truncation (headers only when False).
        strict: notices (EXIF-rotated, high bit depth) fail the check too.
        workers: threads (default: up to 8, by CPU count).

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = cv2.imwrite(str(d / "a.png"), np.zeros((4, 4, 3), np.uint8))
        >>> _ = cv2.imwrite(str(d / "b.png"), np.zeros((4, 4, 3), np.uint8))
        >>> (d / "c.jpg").write_bytes(b"")
        0
        >>> report = check_images([d])
        >>> report.ok, report.counts()["duplicate"], report.counts()["unreadable"]
        (False, 1, 1)
    """
    opts = options or ReadOptions()
    files = image_files(paths)
    limit = opts.pixel_limit
    n = max(1, min(8, workers or os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n) as pool:
        checks = list(pool.map(lambda p: _check_one(p, limit, decode), files))
    first: dict[str, Path] = {}
    for fc in checks:
        if not fc.sha256:
            continue
        if fc.sha256 in first:
            fc.duplicate_of = first[fc.sha256]
            fc.add(Finding.DUPLICATE, f"same content as {fc.duplicate_of}")
        else:
            first[fc.sha256] = fc.path
    return CheckReport(checks, strict=strict, options={**opts.to_dict(), "decode": decode})
