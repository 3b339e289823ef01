"""Bulk prediction on Ray Data (the ``distributed`` extra): ``predict_images``, ``run_ray``.

Layer 8, beside ``tilewise.cli``: it runs the library's bulk engine
(``tilewise.bulk.predict_chunk``) inside Ray actors, so a Ray run gives the same
``predictions.parquet`` as ``--engine local``.
"""

from tilewise.distributed.ray_engine import RayOptions, connect, predict_images, run_ray

__all__ = ["RayOptions", "connect", "predict_images", "run_ray"]
