"""Resumable writers never keep stale output (issue 17, item 1).

``transfer_images`` used to skip an existing target whose byte size equalled its source's,
so writing a changed dataset into an existing folder kept the old pixels (always, for an
uncompressed format of the same dimensions). Tiling resume trusted the config and the
source path alone, so an edited source image or annotation file left stale tiles.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise.datasets import DatasetBuilder, read_dataset, write_coco
from tilewise.datasets.convert import layout_paths, write_dataset
from tilewise.datasets.formats.layout import transfer_images
from tilewise.datasets.tiling import TilingConfig, tile_dataset
from tilewise.datasets.tiling.config import CONFIG_NAME
from tilewise.datasets.tiling.run import MARKER_NAME, source_fingerprint
from tilewise.errors import TilewiseError
from tilewise.fileio import same_content
from tilewise.images.check import file_sample_sha256


def _bmp(path: Path, value: int, wh: tuple[int, int] = (8, 6)) -> None:
    """An uncompressed BMP: every image of the same size has the same byte count."""
    ok = cv2.imwrite(str(path), np.full((wh[1], wh[0], 3), value, np.uint8))
    assert ok


def _dataset(root: Path, n: int = 2) -> DatasetBuilder:
    b = DatasetBuilder(["car"])
    for k in range(n):
        _bmp(root / f"im{k}.bmp", 10 * k)
        b.add_box(b.add_image(f"im{k}.bmp", 8, 6, split="train"), [1, 1, 4, 4], 0)
    return b


# ----------------------------------------------------------------------------- same_content


@settings(max_examples=200, deadline=None)
@given(a=st.binary(max_size=64), b=st.binary(max_size=64), chunk=st.integers(1, 9))
def test_same_content_is_byte_equality(tmp_path_factory, a: bytes, b: bytes, chunk: int) -> None:
    d = tmp_path_factory.mktemp("bytes")
    (d / "a").write_bytes(a)
    (d / "b").write_bytes(b)
    assert same_content(d / "a", d / "b", chunk=chunk) is (a == b)
    assert same_content(d / "a", d / "a", chunk=chunk) is True


def test_same_content_of_a_hard_link_does_not_read(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 10)
    os.link(tmp_path / "a", tmp_path / "b")
    assert same_content(tmp_path / "a", tmp_path / "b", chunk=1)


# ----------------------------------------------------------------------------- transfer_images


@pytest.mark.parametrize("mode", ["copy", "link"])
def test_transfer_images_replaces_same_size_stale_target(tmp_path: Path, mode: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    ds = _dataset(src).build(root=src)
    targets = [tmp_path / "out" / f"t{k}.bmp" for k in range(2)]
    assert transfer_images(ds, targets, mode) == 2
    # the regression: new pixels, same dimensions, same byte size
    old_size = (src / "im1.bmp").stat().st_size
    if mode == "link":  # a hard-linked target would change with its source; break the link
        (src / "im1.bmp").unlink()
    _bmp(src / "im1.bmp", 200)
    assert (src / "im1.bmp").stat().st_size == old_size
    assert transfer_images(ds, targets, mode) == 1
    assert (targets[1]).read_bytes() == (src / "im1.bmp").read_bytes()
    assert int(cv2.imread(str(targets[1]))[0, 0, 0]) == 200
    # unchanged targets are left alone (not rewritten)
    inode = targets[0].stat().st_ino
    assert transfer_images(ds, targets, mode) == 0
    assert targets[0].stat().st_ino == inode


def test_transfer_images_replaces_target_with_a_newer_mtime_but_old_bytes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    ds = _dataset(src, n=1).build(root=src)
    target = tmp_path / "out" / "t.bmp"
    transfer_images(ds, [target])
    _bmp(target, 99)  # a target edited by hand, same size
    st_src = (src / "im0.bmp").stat()
    os.utime(target, ns=(st_src.st_atime_ns, st_src.st_mtime_ns))  # even the same mtime
    assert transfer_images(ds, [target]) == 1
    assert same_content(target, src / "im0.bmp")


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_writing_a_changed_dataset_into_its_old_folder_updates_pixels(
    tmp_path: Path, fmt: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    ds = _dataset(src).build(root=src)
    out = tmp_path / fmt
    write_dataset(ds, out, fmt)
    _bmp(src / "im0.bmp", 77)
    write_dataset(ds, out, fmt)
    for k, path in enumerate(layout_paths(ds, out, fmt)):
        assert path.read_bytes() == (src / f"im{k}.bmp").read_bytes()
    back = read_dataset(out)
    assert back.num_images == 2


# ----------------------------------------------------------------------------- tiling resume


def _tiling_source(root: Path) -> Path:
    rng = np.random.default_rng(0)
    b = DatasetBuilder(["car"])
    for k in range(2):
        cv2.imwrite(str(root / f"s{k}.bmp"), rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
        b.add_box(b.add_image(f"s{k}.bmp", 30, 20), [2, 2, 9, 9], 0)
    return write_coco(b.build(), root / "train.json")


CFG = TilingConfig(slice_wh=10, overlap=0, empty_ratio=100.0)


def test_source_fingerprint_changes_with_annotations_and_files(tmp_path: Path) -> None:
    src = _tiling_source(tmp_path)
    ds = read_dataset(src)
    fp = source_fingerprint(ds)
    assert source_fingerprint(read_dataset(src)) == fp
    moved = ds.replace(boxes=ds.boxes + 1.0)
    assert source_fingerprint(moved)["annotations"] != fp["annotations"]
    assert source_fingerprint(moved)["image_content"] == fp["image_content"]
    # only touched: the same bytes, so the same fingerprint
    st0 = (tmp_path / "s0.bmp").stat()
    os.utime(tmp_path / "s0.bmp", ns=(st0.st_atime_ns, st0.st_mtime_ns + 1_000_000_000))
    assert source_fingerprint(ds) == fp
    (tmp_path / "s0.bmp").unlink()
    assert source_fingerprint(ds)["image_content"] != fp["image_content"]


def test_source_fingerprint_sees_a_rewrite_with_the_old_size_and_time(tmp_path: Path) -> None:
    # regression: the fingerprint was name, size and mtime, so an image rewritten at the
    # same size with its old mtime (cp -p, a restore) resumed a tiling of the old pixels
    src = _tiling_source(tmp_path)
    ds = read_dataset(src)
    fp = source_fingerprint(ds)
    path = tmp_path / "s1.bmp"
    st = path.stat()
    cv2.imwrite(str(path), np.full((20, 30, 3), 7, np.uint8))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert source_fingerprint(ds)["annotations"] == fp["annotations"]
    assert source_fingerprint(ds)["image_content"] != fp["image_content"]


@pytest.mark.parametrize("complete", [True, False])
def test_tiling_refuses_to_resume_over_a_changed_source_image(
    tmp_path: Path, complete: bool
) -> None:
    src = _tiling_source(tmp_path)
    out = tmp_path / "out"
    first = tile_dataset(src, out, CFG, progress=False, workers=1)
    assert first.tiles_written == 12
    if not complete:
        (out / MARKER_NAME).unlink()
    # new pixels, the same size in bytes and even the old modification time
    st0 = (tmp_path / "s0.bmp").stat()
    cv2.imwrite(str(tmp_path / "s0.bmp"), np.full((20, 30, 3), 255, np.uint8))
    os.utime(tmp_path / "s0.bmp", ns=(st0.st_atime_ns, st0.st_mtime_ns))
    assert (tmp_path / "s0.bmp").stat().st_size == st0.st_size
    with pytest.raises(TilewiseError, match="image files' content"):
        tile_dataset(src, out, CFG, progress=False, workers=1)
    redo = tile_dataset(src, out, CFG, progress=False, workers=1, overwrite=True)
    assert redo.tiles_written == 12
    prov = json.loads((out / "provenance.json").read_text())
    white = [n for n, s in zip(prov["file_name"], prov["source"], strict=True) if s == "s0.bmp"]
    assert white
    for name in white:
        assert int(cv2.imread(str(out / name)).min()) == 255


def test_tiling_refuses_to_resume_over_changed_annotations(tmp_path: Path) -> None:
    src = _tiling_source(tmp_path)
    out = tmp_path / "out"
    tile_dataset(src, out, CFG, progress=False, workers=1)
    data = json.loads(src.read_text())
    data["annotations"][0]["bbox"] = [12, 2, 7, 7]
    src.write_text(json.dumps(data))
    with pytest.raises(TilewiseError, match="annotations"):
        tile_dataset(src, out, CFG, progress=False, workers=1)


def test_tiling_without_a_fingerprint_is_not_trusted(tmp_path: Path) -> None:
    src = _tiling_source(tmp_path)
    out = tmp_path / "out"
    tile_dataset(src, out, CFG, progress=False, workers=1)
    saved = json.loads((out / CONFIG_NAME).read_text())
    del saved["extra"]["fingerprint"]
    (out / CONFIG_NAME).write_text(json.dumps(saved))
    with pytest.raises(TilewiseError, match="predates source fingerprints"):
        tile_dataset(src, out, CFG, progress=False, workers=1)


def test_tiling_fingerprinted_by_size_and_time_is_not_trusted(tmp_path: Path) -> None:
    # a tiling written before image content was hashed holds an "images" stamp instead
    src = _tiling_source(tmp_path)
    out = tmp_path / "out"
    tile_dataset(src, out, CFG, progress=False, workers=1)
    saved = json.loads((out / CONFIG_NAME).read_text())
    fingerprint = saved["extra"]["fingerprint"]
    fingerprint["images"] = fingerprint.pop("image_content")
    (out / CONFIG_NAME).write_text(json.dumps(saved))
    with pytest.raises(TilewiseError, match="predates content fingerprints"):
        tile_dataset(src, out, CFG, progress=False, workers=1)
    assert tile_dataset(src, out, CFG, progress=False, workers=1, overwrite=True).tiles_written


def test_unchanged_source_still_resumes(tmp_path: Path) -> None:
    src = _tiling_source(tmp_path)
    out = tmp_path / "out"
    tile_dataset(src, out, CFG, progress=False, workers=1)
    (out / MARKER_NAME).unlink()
    again = tile_dataset(src, out, CFG, progress=False, workers=1)
    assert (again.tiles_written, again.tiles_reused) == (0, 12)


def test_file_sample_sha256_small_files_are_hashed_whole(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"abcdef")
    expected = hashlib.sha256(b"6\nabcdef").hexdigest()
    assert file_sample_sha256(path, blocks=2, block_bytes=3) == expected
    path.write_bytes(b"abcdeF")
    assert file_sample_sha256(path, blocks=2, block_bytes=3) != expected


# 1000 bytes, 4 blocks of 10: the blocks start at 0, 330, 660 and 990
@pytest.mark.parametrize(
    ("offset", "seen"),
    [(0, True), (9, True), (10, False), (329, False), (330, True), (339, True),
     (340, False), (665, True), (989, False), (990, True), (999, True)],
)  # fmt: skip
def test_file_sample_sha256_sees_a_change_only_in_a_sampled_block(
    tmp_path: Path, offset: int, seen: bool
) -> None:
    path = tmp_path / "a"
    data = bytearray(1000)
    path.write_bytes(bytes(data))
    before = file_sample_sha256(path, blocks=4, block_bytes=10)
    data[offset] = 1
    path.write_bytes(bytes(data))
    assert (file_sample_sha256(path, blocks=4, block_bytes=10) != before) is seen


def test_file_sample_sha256_sees_the_size_and_refuses_bad_blocks(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(bytes(1000))
    before = file_sample_sha256(path, blocks=4, block_bytes=10)
    path.write_bytes(bytes(1001))
    assert file_sample_sha256(path, blocks=4, block_bytes=10) != before
    for blocks, block_bytes in [(1, 10), (4, 0)]:
        with pytest.raises(TilewiseError, match="at least 2 blocks"):
            file_sample_sha256(path, blocks=blocks, block_bytes=block_bytes)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.integers(2, 8), st.integers(1, 40))
def test_file_sample_sha256_reads_every_byte_of_a_file_that_fits(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, blocks: int, block_bytes: int
) -> None:
    path = tmp_path_factory.mktemp("s") / "a"
    path.write_bytes(data)
    got = file_sample_sha256(path, blocks=blocks, block_bytes=block_bytes)
    if len(data) <= blocks * block_bytes:
        assert got == hashlib.sha256(f"{len(data)}\n".encode() + data).hexdigest()
    else:  # sampled: the first and last blocks always count
        for index in (0, len(data) - 1):
            changed = bytearray(data)
            changed[index] ^= 0xFF
            path.write_bytes(bytes(changed))
            assert file_sample_sha256(path, blocks=blocks, block_bytes=block_bytes) != got


def test_raster_rewritten_at_its_old_size_and_time_is_a_new_raster(tmp_path: Path) -> None:
    # regression: a raster's identity for strip resume was path, size and mtime only
    from tilewise.distributed.strip_store import raster_fingerprint

    path = tmp_path / "scene.tif"
    path.write_bytes(bytes(range(256)) * 64)
    before = raster_fingerprint(path)
    st0 = path.stat()
    path.write_bytes(bytes(range(255, -1, -1)) * 64)
    os.utime(path, ns=(st0.st_atime_ns, st0.st_mtime_ns))
    after = raster_fingerprint(path)
    assert (after["bytes"], after["mtime_ns"]) == (before["bytes"], before["mtime_ns"])
    assert after != before
    assert raster_fingerprint("/vsis3/bucket/scene.tif") == {"path": "/vsis3/bucket/scene.tif"}
