"""Bulk runs on a local Ray cluster (issue 13): same parquet as --engine local, resume."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.bulk_models import blob_factory, write_scenes
from tilewise.bulk.engine import build_slicer
from tilewise.bulk.inputs import file_stat, list_images
from tilewise.bulk.run import run_local
from tilewise.bulk.store import RunStore
from tilewise.errors import TilewiseError

ray = pytest.importorskip("ray")
# Every Ray test runs on one xdist worker (scripts/test.sh: --dist loadgroup): Ray's
# address="auto" finds any cluster running on the machine, including another worker's.
pytestmark = pytest.mark.xdist_group("ray")

from tilewise.distributed import (  # noqa: E402
    RayOptions,
    actor_cpus,
    connect,
    predict_images,
    run_ray,
)

SLICER = {"slice_size": 32, "overlap": 0, "batch_size": 4}
OPTIONS = RayOptions(workers=2, cpus_per_worker=0.75)


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


def test_unreachable_address_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if ray.is_initialized():
        pytest.skip("a cluster is connected in this process")
    # "auto" finds any Ray cluster running on this machine (another test session's, a
    # forgotten one): make Ray's own discovery see none, so the test does not depend on
    # what else runs here (it used to fail whenever a cluster was up)
    from ray._private import services

    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def no_gcs_addresses() -> list[str]:
        return []

    no_gcs_addresses.cache_clear = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setattr(services, "find_gcs_addresses", no_gcs_addresses)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    match = "cannot reach a Ray cluster at --address auto"
    with pytest.raises(TilewiseError, match=match), connect(RayOptions(address="auto")):
        pass


def test_ray_equals_local_also_after_an_interruption(ray_cluster, scenes: Path, tmp_path: Path):
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
    # an image changed since: Ray redoes it as the local engine does, and records its stat
    ray_rows = RunStore(tmp_path / "ray", {"slice": 32}).images()
    stats = dict(zip(ray_rows.column("image").to_pylist(),
                     zip(ray_rows.column("source_bytes").to_pylist(),
                         ray_rows.column("source_mtime_ns").to_pylist(), strict=True),
                     strict=True))  # fmt: skip
    assert stats == {n: file_stat(p) for n, p in zip(images.names, images.paths, strict=True)}
    changed = images.paths[-1]
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    store = RunStore(tmp_path / "ray", {"slice": 32})
    again = run_ray(images, blob_factory, store, slicer_options=SLICER, options=OPTIONS, chunk=3)
    assert (again.changed, again.predicted_now) == (1, 2)  # and broken.png's retry
    assert pq.read_table(tmp_path / "ray" / "predictions.parquet").equals(local)
    failures = (tmp_path / "ray" / "failures.jsonl").read_text()
    assert failures == (tmp_path / "local" / "failures.jsonl").read_text()


@pytest.mark.parametrize(
    ("workers", "cpus", "read", "cluster", "reads", "expected"),
    [
        # left out: up to 1 CPU per actor, the reading task keeps its share
        (2, None, 0.25, 2, True, 0.875),
        (2, None, 0.25, 8, True, 1.0),
        (4, None, 0.25, 2, True, 0.4375),
        (2, None, 0.25, 2, False, 1.0),  # raster strips: no reading tasks
        (1, None, 0.5, 1, True, 0.5),
        # given and fitting, exactly at the edge too
        (2, 0.75, 0.25, 2, True, 0.75),
        (2, 0.875, 0.25, 2, True, 0.875),
        (2, 1.0, 0.25, 2, False, 1.0),
        (3, 2.0, 0.25, 8, True, 2.0),
    ],
)
def test_actor_cpus_fit_the_cluster(workers, cpus, read, cluster, reads, expected) -> None:
    options = RayOptions(workers=workers, cpus_per_worker=cpus, read_cpus=read)
    assert actor_cpus(options, cluster, reads=reads) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("workers", "cpus", "cluster", "message"),
    [
        # the old default: 2 actors x 1 CPU on 2 CPUs left the reading tasks none (a hang)
        (2, 1.0, 2, "--workers 2 x --cpus-per-worker 1 + a reading task's 0.25 need 2.25 CPUs"),
        (1, 3.0, 2, "need 3.25 CPUs; the cluster has 2"),
        (2, None, 0.25, "the cluster has 0.25 CPUs: not enough"),
        (2, None, 0, "the cluster has 0 CPUs"),
    ],
)
def test_actor_cpus_refuse_what_would_hang(workers, cpus, cluster, message) -> None:
    with pytest.raises(TilewiseError, match=message.replace("+", r"\+")):
        actor_cpus(RayOptions(workers=workers, cpus_per_worker=cpus), cluster)


def test_default_options_run_on_a_two_cpu_cluster(ray_cluster, scenes: Path) -> None:
    # regression: RayOptions() reserved 2 x 1 CPU on this 2-CPU cluster and the reading
    # tasks waited forever
    images = list_images(scenes)
    pairs = [(n, str(p)) for n, p in zip(images.names[:2], images.paths[:2], strict=True)]
    ds = predict_images(pairs, blob_factory, slicer_options=SLICER, options=RayOptions(), chunk=1)
    rows = [
        r for b in ds.iter_batches(batch_size=None, batch_format="pyarrow") for r in b.to_pylist()
    ]
    assert sorted(r["image"] for r in rows) == sorted(images.names[:2])


def test_ray_takes_the_merge_and_zoom_settings(ray_cluster, scenes: Path, tmp_path: Path):
    """The settings ``predict FOLDER --engine ray --class-agnostic --merge-metric ios
    --merge-threshold 0.8 --zoom 1.5`` passes reach the workers' slicers: Ray's parquet
    equals the local engine's with them, and differs from the default merge's."""
    from tests.bulk_models import two_class_factory

    settings = {**SLICER, "class_agnostic": True, "metric": "ios", "threshold": 0.8, "zoom": 1.5}
    images = list_images(scenes)
    tables = {}
    for name, options in [("default", {**SLICER, "zoom": 1.5}), ("local", settings)]:
        store = RunStore(tmp_path / name, {"slice": 32})
        slicer = build_slicer(two_class_factory(), **options)
        run_local(images, slicer, store, class_names=["even", "odd"])
        tables[name] = pq.read_table(tmp_path / name / "predictions.parquet")
    store = RunStore(tmp_path / "ray", {"slice": 32})
    run_ray(images, two_class_factory, store, slicer_options=settings, options=OPTIONS, chunk=3)
    ray_table = pq.read_table(tmp_path / "ray" / "predictions.parquet")
    assert 0 < tables["local"].num_rows < tables["default"].num_rows
    assert ray_table.equals(tables["local"])
