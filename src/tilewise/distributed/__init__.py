"""Bulk prediction and giant rasters on Ray Data (the ``distributed`` extra).

Layer 8, beside ``tilewise.cli``: it runs the library's bulk engine
(``tilewise.bulk.predict_chunk``) inside Ray actors, so a Ray run gives the same
``predictions.parquet`` as ``--engine local`` (``predict_images``, ``run_ray``); and it
spreads one raster's strips of slice rows over Ray actors, merged once on the driver,
so the result equals the whole-raster run (``predict_raster``, ``run_strips``), a run
that resumes with a ``StripStore``.
"""

from tilewise.distributed.raster_strips import StripRun, predict_raster, run_strips
from tilewise.distributed.ray_engine import (
    RayOptions,
    actor_cpus,
    connect,
    predict_images,
    run_ray,
)
from tilewise.distributed.strip_store import StripStore, raster_fingerprint

__all__ = [
    "RayOptions",
    "StripRun",
    "StripStore",
    "actor_cpus",
    "connect",
    "predict_images",
    "predict_raster",
    "raster_fingerprint",
    "run_ray",
    "run_strips",
]
