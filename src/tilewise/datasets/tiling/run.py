"""Writing a tiled dataset: parallel, atomic and resumable.

Order of writes in the output directory:

1. ``tiling.json`` (the config, so a resumed run can check it is the same job);
2. tile images, each written atomically (a killed job leaves only whole files);
3. annotation files, ``provenance.json`` and ``accounting.json``;
4. ``.tilewise-complete.json`` last: only a directory holding it claims to be complete.

Rerunning the same job skips tiles already on disk and finishes the rest. "The same job"
means the same config, output format and source, *and* an unchanged source: a fingerprint
of the source annotations and of every source image file (name, byte size, modification
time) is saved in ``tiling.json``; if it differs, the tiles on disk may be stale and the
run refuses to resume without ``overwrite``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tilewise.datasets.convert import DatasetFormat, detect_format, layout_paths, read_dataset
from tilewise.datasets.convert import write_dataset as _write_dataset
from tilewise.datasets.dataset import Dataset, DatasetFormatError
from tilewise.datasets.formats.layout import ImageTransfer
from tilewise.datasets.formats.policy import OnError
from tilewise.datasets.tiling.accounting import AnnotationStatus, DropReason, TilingReport
from tilewise.datasets.tiling.config import CONFIG_NAME, TilingConfig
from tilewise.datasets.tiling.plan import TilePlan, TileValidity, plan_tiles
from tilewise.errors import TilewiseError
from tilewise.fileio import atomic_path, atomic_write_json
from tilewise.images import ImageTruncatedError, ReadOptions, read_image
from tilewise.images.check import file_sha256
from tilewise.sources import ImageSource, Window

__all__ = [
    "ACCOUNTING_NAME",
    "MARKER_NAME",
    "PROVENANCE_NAME",
    "TilingResult",
    "is_complete",
    "SourceOpener",
    "source_fingerprint",
    "tile_dataset",
]

SourceOpener = Callable[[Path], ImageSource]
"""Opens a source image for window reads (e.g. ``RasterSource``); closed after its tiles."""

MARKER_NAME = ".tilewise-complete.json"
ACCOUNTING_NAME = "accounting.json"
PROVENANCE_NAME = "provenance.json"


@dataclass
class TilingResult:
    """What ``tile_dataset`` produced.

    Attributes:
        dataset: the tiled dataset (file names relative to ``root``'s image layout).
        report: per-class accounting of every source annotation.
        root: the output directory.
        tiles_written: tile images written by this run.
        tiles_reused: tile images already on disk from an interrupted run.
        already_complete: the directory was already a complete tiling of the same job.
        notes: lossy or corrective changes made by the annotation writer.
    """

    dataset: Dataset
    report: TilingReport
    root: Path
    tiles_written: int = 0
    tiles_reused: int = 0
    already_complete: bool = False
    notes: list[str] = field(default_factory=list)


def is_complete(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` holds a finished tiling (its completion marker was written).

    Example:
        >>> import tempfile
        >>> is_complete(tempfile.mkdtemp())
        False
    """
    return (Path(root) / MARKER_NAME).is_file()


def _digest(h: Any, array: np.ndarray) -> None:
    arr = np.asarray(array)
    h.update(f"{arr.dtype.str if arr.dtype != object else 'O'}{arr.shape}".encode())
    if arr.dtype == object:
        h.update("\0".join(str(v) for v in arr.ravel().tolist()).encode("utf-8", "replace"))
    else:
        h.update(np.ascontiguousarray(arr).tobytes())


def source_fingerprint(ds: Dataset) -> dict[str, str]:
    """Fingerprints of a tiling source: its annotations and its image files.

    ``annotations`` hashes every column of the dataset (images, boxes, classes, segments);
    ``image_content`` hashes each image file's name and the SHA-256 of its bytes
    (``missing`` for an absent file). Content, not size and modification time: an image
    rewritten at the same size with its old time (``cp -p``, a restore from an archive)
    changes it, and a file only touched does not. Tiling reads every image anyway, so
    hashing them first costs one extra read, far less than decoding.

    Example:
        >>> from tilewise.datasets import DatasetBuilder
        >>> b = DatasetBuilder(["car"]); b.add_box(b.add_image("a.png", 9, 9), [1, 1, 4, 4], 0)
        >>> sorted(source_fingerprint(b.build()))
        ['annotations', 'image_content']
    """
    ann = hashlib.sha256()
    im = ds.images
    for arr in (im.file_name, im.width, im.height, im.image_id, im.split, im.source, im.offset):
        _digest(ann, arr)
    for arr in (ds.image_index, ds.boxes, ds.class_id, ds.category_ids, ds.iscrowd, ds.ann_id):
        _digest(ann, arr)
    _digest(ann, np.asarray(ds.class_names, dtype=object))
    seg = ds.segments
    for arr in (seg.kind, seg.poly_index, seg.ring_index, seg.points, seg.rle_index):
        _digest(ann, arr)
    _digest(ann, seg.rle_counts)
    files = hashlib.sha256()
    for i in range(ds.num_images):
        path = ds.image_path(i)
        try:
            stamp = file_sha256(path)
        except OSError:
            stamp = "missing"
        files.update(f"{ds.images.file_name[i]}\0{stamp}\n".encode("utf-8", "replace"))
    return {"annotations": ann.hexdigest(), "image_content": files.hexdigest()}


def _check_destination(dst: Path, cfg: TilingConfig, fmt: DatasetFormat, overwrite: bool) -> bool:
    """Prepare ``dst``; returns True when it already holds this job complete."""
    cfg_path = dst / CONFIG_NAME
    if cfg_path.is_file():
        old = TilingConfig.load(cfg_path)
        same = (
            old == cfg
            and old.extra.get("format") == fmt.value
            and old.extra.get("source") == cfg.extra.get("source")
            and old.extra.get("read", _read_options_dict(ReadOptions())) == cfg.extra.get("read")
            and old.extra.get("raster") == cfg.extra.get("raster")
        )
        if same and not overwrite:
            old_fp = old.extra.get("fingerprint") or {}
            new_fp = cfg.extra.get("fingerprint") or {}
            keys = ("annotations", "image_content")
            changed = [k for k in keys if old_fp.get(k) != new_fp.get(k)]
            if not changed:
                return is_complete(dst)
            what = " and ".join(
                "its annotations" if k == "annotations" else "its image files' content"
                for k in changed
            )
            if not old_fp:
                what += "; or the tiling predates source fingerprints"
            elif "image_content" not in old_fp:
                what += "; or the tiling predates content fingerprints of its images"
            raise TilewiseError(
                f"{dst} holds a tiling of this source with this config, but the source changed "
                f"since ({what}): the tiles and annotations there may be stale. Pass "
                "overwrite=True (--overwrite) to tile it again, or choose another directory"
            )
        if not overwrite:
            raise TilewiseError(
                f"{dst} holds a tiling of another source or with a different config or format "
                f"({cfg_path}); pass overwrite=True (--overwrite) or choose another directory"
            )
        shutil.rmtree(dst)
    elif dst.exists() and any(dst.iterdir()):
        raise TilewiseError(
            f"{dst} is not empty and is not a tilewise tiling; choose an empty directory"
        )
    return False


def _source_groups(plan: TilePlan) -> Iterator[tuple[int, list[int]]]:
    tiles = plan.selected
    img = plan.tile_image[tiles]
    order = np.argsort(img, kind="stable")
    bounds = np.flatnonzero(np.diff(img[order])) + 1
    for group in np.split(order, bounds):
        if group.size:
            yield int(img[group[0]]), group.tolist()


def _write_params(path: Path, quality: int) -> list[int]:
    import cv2

    if path.suffix.lower() in (".jpg", ".jpeg"):
        return [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    return []


class _SourceImageError(OSError):
    """A source image that cannot be tiled, with the reason its annotations are dropped."""

    def __init__(self, message: str, reason: DropReason) -> None:
        super().__init__(message)
        self.reason = reason


def _read_options_dict(read: ReadOptions) -> dict[str, Any]:
    """The parts of the reading policy that change tile pixels (saved with the config)."""
    out = read.to_dict()
    out.pop("max_pixels")
    return out


def _read_source(plan: TilePlan, image: int, read: ReadOptions) -> tuple[np.ndarray, bool]:
    """RGB pixels of a source image, read as ``read`` says, and whether it is truncated."""
    path = plan.source.image_path(image)
    try:
        loaded = read_image(path, read, warn=False)
    except ImageTruncatedError as exc:
        raise _SourceImageError(str(exc), DropReason.IMAGE_TRUNCATED) from exc
    except TilewiseError as exc:
        raise _SourceImageError(str(exc), DropReason.IMAGE_UNREADABLE) from exc
    pixels, rec = loaded.pixels, loaded.record
    want = (int(plan.source.images.width[image]), int(plan.source.images.height[image]))
    if rec.image_wh != want:
        hint = ""
        if rec.header.rotated and rec.header.display_wh(not rec.oriented) == want:
            other = "ignore" if rec.oriented else "follow"
            hint = (
                f"; its EXIF orientation is {rec.header.orientation} and the annotations match "
                f"the {'stored' if rec.oriented else 'displayed'} frame: tile with --exif {other} "
                f"(ReadOptions(exif='{other}')) if they were made that way"
            )
        raise _SourceImageError(
            f"{path}: image is {rec.image_wh[0]}x{rec.image_wh[1]} as read "
            f"(exif={rec.exif}) but its annotations say {want[0]}x{want[1]}{hint}",
            DropReason.IMAGE_UNREADABLE,
        )
    return pixels, rec.truncated


def _open_source(plan: TilePlan, image: int, opener: SourceOpener) -> ImageSource:
    """A source image opened for window reads, checked against its annotated size."""
    path = plan.source.image_path(image)
    try:
        source = opener(path)
    except TilewiseError as exc:
        raise _SourceImageError(str(exc), DropReason.IMAGE_UNREADABLE) from exc
    want = (int(plan.source.images.width[image]), int(plan.source.images.height[image]))
    if tuple(source.image_wh) != want:
        getattr(source, "close", lambda: None)()
        raise _SourceImageError(
            f"{path}: image is {source.image_wh[0]}x{source.image_wh[1]} but its annotations "
            f"say {want[0]}x{want[1]}",
            DropReason.IMAGE_UNREADABLE,
        )
    return source


def _cut_image(
    plan: TilePlan,
    image: int,
    rows: list[int],
    targets: list[Path],
    read: ReadOptions,
    opener: SourceOpener | None = None,
) -> tuple[int, int, bool]:
    """Write the tiles ``rows`` (indices into the selected tiles) of one source image.

    The image is decoded whole (``read``), or, with ``opener``, each tile is one window
    read from the source it opens (rasters: never held whole).

    Returns (tiles written, tiles already on disk, whether the source is truncated).
    """
    import cv2

    todo = [r for r in rows if not targets[r].is_file()]
    if not todo:
        return 0, len(rows), False
    source: ImageSource | None = None
    truncated = False
    if opener is None:
        pixels, truncated = _read_source(plan, image, read)
    else:
        source = _open_source(plan, image, opener)
    tiles = plan.selected
    try:
        for r in todo:
            x1, y1, x2, y2 = (int(v) for v in plan.tile_box[tiles[r]])
            target = targets[r]
            if source is None:
                rgb = pixels[y1:y2, x1:x2]
            else:
                try:
                    rgb = source.read(Window(x1, y1, x2 - x1, y2 - y1))
                except TilewiseError as exc:
                    raise _SourceImageError(str(exc), DropReason.IMAGE_UNREADABLE) from exc
            bgr = np.ascontiguousarray(rgb[..., ::-1])
            with atomic_path(target) as tmp:
                ok = cv2.imwrite(str(tmp), bgr, _write_params(target, plan.config.jpeg_quality))
                if not ok:
                    raise TilewiseError(f"could not write tile image {target}")
    finally:
        if source is not None:
            getattr(source, "close", lambda: None)()
    return len(todo), len(rows) - len(todo), truncated


def _drop_failed(
    plan: TilePlan,
    tiled: Dataset,
    targets: list[Path],
    failed: dict[int, tuple[DropReason, str]],
) -> tuple[Dataset, list[Path]]:
    report = plan.report
    src = plan.source
    bad_images = np.array(sorted(failed), dtype=np.int64)
    image_reason = np.zeros(src.num_images, dtype=np.uint8)
    for i, (reason, _) in failed.items():
        image_reason[i] = reason
    lost = np.isin(src.image_index, bad_images)
    report.status[lost] = AnnotationStatus.DROPPED
    report.reason[lost] = image_reason[src.image_index[lost]]
    report.images_skipped = {str(src.images.file_name[i]): msg for i, (_, msg) in failed.items()}
    tile_reason = image_reason[plan.tile_image[plan.selected]]
    keep_tiles = ~np.isin(plan.tile_image[plan.selected], bad_images)
    report.tiles["skipped_unreadable"] = int(np.sum(tile_reason == DropReason.IMAGE_UNREADABLE))
    report.tiles["skipped_truncated"] = int(np.sum(tile_reason == DropReason.IMAGE_TRUNCATED))
    report.tiles["selected"] = int(keep_tiles.sum())
    out = tiled.take_images(np.flatnonzero(keep_tiles))
    kept_pieces = ~np.isin(plan.tile_image[plan.piece_tile], bad_images)
    report.instances = int(kept_pieces.sum())
    report.instances_clipped = int(np.sum(plan.piece_clipped[kept_pieces]))
    return out, [t for t, k in zip(targets, keep_tiles.tolist(), strict=True) if k]


def tile_dataset(
    source: Dataset | str | os.PathLike[str],
    dst: str | os.PathLike[str],
    config: TilingConfig | None = None,
    *,
    format: DatasetFormat | str | None = None,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    on_error: OnError | str = OnError.SKIP,
    read: ReadOptions | None = None,
    open_source: SourceOpener | None = None,
    valid_fraction: TileValidity | None = None,
    min_valid: float = 0.0,
) -> TilingResult:
    """Cut a dataset into training tiles on disk, with full accounting.

    See ``plan_tiles`` for the box, polygon, mask and empty-tile rules. Tile images are cut
    from each source image once and written in parallel threads, each atomically; the
    completion marker is written last, so a killed job never looks complete, and rerunning
    the same job resumes it (tiles already written are kept).

    Args:
        source: a ``Dataset`` or a dataset path (format detected).
        dst: output directory (empty, or an earlier run of the same job).
        config: tiling rules (default ``TilingConfig()``).
        format: output format; default the source's (COCO for an in-memory dataset).
        workers: image threads (default: CPU count).
        progress: show a progress bar.
        overwrite: replace an earlier tiling in ``dst`` made with another config.
        on_error: a missing, unreadable or truncated source image is ``"skip"`` ped and
            reported (its annotations counted as dropped, ``image_unreadable`` or
            ``image_truncated``), or ``"raise"`` d.
        open_source: read each source image's tiles as windows of the source this
            opens from its path (``tilewise.datasets.tiling.tile_raster`` passes
            ``RasterSource``), instead of decoding the image whole with ``read``.
        valid_fraction: each tile's fraction of valid (not nodata) pixels, so that empty
            tiles with none, or under ``min_valid``, are never sampled as negatives
            (counted as ``empty_nodata`` / ``empty_sparse``; see ``plan_tiles``).
        min_valid: see ``valid_fraction``.
        read: how source images are read (``tilewise.images.ReadOptions``), the same
            policy as inference: EXIF orientation followed by default, so the
            annotations' width/height must be the displayed frame's. With
            ``allow_truncated`` truncated images are tiled and listed in
            ``report.images_truncated`` instead of skipped.

    Example:
        >>> import tempfile, pathlib, numpy as np, cv2
        >>> from tilewise.datasets import DatasetBuilder
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = cv2.imwrite(str(d / "a.png"), np.zeros((10, 20, 3), np.uint8))
        >>> b = DatasetBuilder(["car"]); b.add_box(b.add_image("a.png", 20, 10), [2, 2, 6, 6], 0)
        >>> res = tile_dataset(b.build(root=d), d / "out", TilingConfig(slice_wh=10, overlap=0),
        ...     format="yolo", progress=False)
        >>> res.tiles_written, is_complete(d / "out"), res.report.totals()["kept"]
        (1, True, 1)
    """
    from tqdm.auto import tqdm

    cfg = config or TilingConfig()
    read = read or ReadOptions()
    if isinstance(source, Dataset):
        ds = source
        fmt = DatasetFormat(format) if format is not None else DatasetFormat.COCO
        source_name = str(ds.root.resolve()) if ds.root is not None else ""
    else:
        ds = read_dataset(source, exif=read.exif.value)
        fmt = DatasetFormat(format) if format is not None else detect_format(source)
        source_name = str(Path(source).resolve())
    policy = OnError(on_error)
    cfg = TilingConfig(
        **{k: getattr(cfg, k) for k in cfg.__dataclass_fields__ if k != "extra"},
        extra={
            **cfg.extra,
            "format": fmt.value,
            "source": source_name,
            "fingerprint": source_fingerprint(ds),
            "read": _read_options_dict(read),
        },
    )
    out_dir = Path(dst)
    done = _check_destination(out_dir, cfg, fmt, overwrite)
    plan = plan_tiles(ds, cfg, valid_fraction=valid_fraction, min_valid=min_valid)
    tiled = plan.to_dataset()
    targets = layout_paths(tiled, out_dir, fmt)
    if done:
        import json

        marker = json.loads((out_dir / MARKER_NAME).read_text(encoding="utf-8"))
        reasons = marker.get("images_skipped_reason", {})
        failed = {
            int(np.flatnonzero(ds.images.file_name == name)[0]): (
                DropReason[reasons.get(name, "image_unreadable").upper()],
                msg,
            )
            for name, msg in marker.get("images_skipped", {}).items()
            if np.any(ds.images.file_name == name)
        }
        if failed:
            tiled, targets = _drop_failed(plan, tiled, targets, failed)
        plan.report.images_truncated = list(marker.get("images_truncated", []))
        return TilingResult(tiled, plan.report, out_dir, 0, len(targets), already_complete=True)
    cfg.save(out_dir / CONFIG_NAME)

    failed: dict[int, tuple[DropReason, str]] = {}
    truncated: list[int] = []
    written = reused = 0
    n_workers = max(1, workers or os.cpu_count() or 1)
    with (
        tqdm(total=len(targets), unit="tile", desc="tiling", disable=not progress) as bar,
        ThreadPoolExecutor(max_workers=n_workers) as pool,
    ):
        futures: dict[Future[tuple[int, int, bool]], tuple[int, int]] = {}
        for image, rows in _source_groups(plan):
            fut = pool.submit(_cut_image, plan, image, rows, targets, read, open_source)
            futures[fut] = (image, len(rows))
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in finished:
                image, count = futures[fut]
                exc = fut.exception()
                if exc is None:
                    w, r, cut_short = fut.result()
                    written += w
                    reused += r
                    if cut_short:
                        truncated.append(image)
                elif isinstance(exc, OSError) and policy is OnError.SKIP:
                    reason = getattr(exc, "reason", DropReason.IMAGE_UNREADABLE)
                    failed[image] = (reason, str(exc))
                else:
                    for other in pending:
                        other.cancel()
                    if isinstance(exc, OSError):
                        raise DatasetFormatError(str(exc)) from exc
                    raise exc
                bar.update(count)
    if failed:
        tiled, targets = _drop_failed(plan, tiled, targets, failed)
    plan.report.images_truncated = sorted(str(ds.images.file_name[i]) for i in truncated)
    summary = _write_dataset(tiled, out_dir, fmt, images=ImageTransfer.NONE)
    atomic_write_json(
        out_dir / PROVENANCE_NAME,
        {
            "file_name": [p.relative_to(out_dir).as_posix() for p in targets],
            "source": tiled.images.source.tolist(),
            "offset": tiled.images.offset.tolist(),
            "split": tiled.images.split.tolist(),
        },
        indent=None,
    )
    report_dict: dict[str, Any] = plan.report.to_dict()
    atomic_write_json(out_dir / ACCOUNTING_NAME, report_dict)
    atomic_write_json(
        out_dir / MARKER_NAME,
        {
            "complete": True,
            "tiles": len(targets),
            "instances": tiled.num_annotations,
            "format": fmt.value,
            "images_skipped": report_dict["images_skipped"],
            "images_skipped_reason": {
                str(ds.images.file_name[i]): reason.label for i, (reason, _) in failed.items()
            },
            "images_truncated": report_dict["images_truncated"],
        },
    )
    return TilingResult(tiled, plan.report, out_dir, written, reused, notes=list(summary.notes))
