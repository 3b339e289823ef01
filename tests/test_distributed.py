"""Bulk runs on a local Ray cluster (issue 13): same parquet as --engine local, resume."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.bulk_models import blob_factory, write_scenes
from tilewise.bulk.engine import build_slicer
from tilewise.bulk.inputs import list_images
from tilewise.bulk.run import run_local
from tilewise.bulk.store import RunStore
from tilewise.errors import TilewiseError

ray = pytest.importorskip("ray")

from tilewise.distributed import RayOptions, connect, predict_images, run_ray  # noqa: E402

SLICER = {"slice_size": 32, "overlap": 0, "batch_size": 4}
OPTIONS = RayOptions(workers=2, cpus_per_worker=0.75)


@pytest.fixture(scope="module")
def cluster():
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenes")
    write_scenes(folder, 9)
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def _local(scenes: Path, out: Path) -> None:
    store = RunStore(out, {"slice": 32})
    slicer = build_slicer(blob_factory(), **SLICER)
    run_local(list_images(scenes), slicer, store, class_names=["even", "odd"])


def test_unreachable_address_is_a_clear_error(tmp_path: Path) -> None:
    if ray.is_initialized():
        pytest.skip("a cluster is connected in this process")
    match = "cannot reach a Ray cluster at --address auto"
    with pytest.raises(TilewiseError, match=match), connect(RayOptions(address="auto")):
        pass


def test_ray_equals_local_also_after_an_interruption(cluster, scenes: Path, tmp_path: Path):
    _local(scenes, tmp_path / "local")
    images = list_images(scenes)
    # an interrupted Ray run: the first 4 images are recorded, the rest is not
    store = RunStore(tmp_path / "ray", {"slice": 32})
    head = [(n, str(p)) for n, p in zip(images.names[:4], images.paths[:4], strict=True)]
    ds = predict_images(head, blob_factory, slicer_options=SLICER, options=OPTIONS, chunk=3)
    for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        store.write_part(block)
    store = RunStore(tmp_path / "ray", {"slice": 32})
    summary = run_ray(images, blob_factory, store, slicer_options=SLICER, options=OPTIONS, chunk=3)
    assert summary.skipped == 3  # the 4th of the head is broken.png's failure, retried
    assert (summary.done, summary.failed, summary.engine) == (9, 1, "ray")
    progress = summary.progress  # the driver's counters across the actors
    assert (progress["images_done"], progress["images_total"]) == (10, 10)
    assert (progress["images_skipped_as_done"], progress["failed"]) == (3, 1)
    assert progress["eta_seconds"] == 0.0
    local = pq.read_table(tmp_path / "local" / "predictions.parquet")
    assert local.num_rows > 0
    assert pq.read_table(tmp_path / "ray" / "predictions.parquet").equals(local)
    failures = (tmp_path / "ray" / "failures.jsonl").read_text()
    assert failures == (tmp_path / "local" / "failures.jsonl").read_text()
