"""An HTTP detection service: sliced inference with slices batched across requests.

``DetectionService`` runs each request through the library's own ``Slicer`` with the
request's settings, over one ``DynamicBatcher`` shared by all requests, and answers the
JSON document ``tilewise predict IMAGE`` writes. ``create_app`` wraps it in FastAPI
(the ``serve`` extra: ``pip install 'tilewise[serve]'``) and ``run_server`` runs it under
uvicorn; ``tilewise serve`` does both. Only ``create_app`` and ``run_server`` need the
extra.
"""

from tilewise.serve.app import create_app
from tilewise.serve.batcher import DynamicBatcher, Submission
from tilewise.serve.config import ServeConfig
from tilewise.serve.errors import Refusal, ServeError
from tilewise.serve.params import FIELDS, DetectParams, parse_params
from tilewise.serve.runner import run_server
from tilewise.serve.service import DetectionService, Ticket

__all__ = [
    "FIELDS",
    "DetectParams",
    "DetectionService",
    "DynamicBatcher",
    "Refusal",
    "ServeConfig",
    "ServeError",
    "Submission",
    "Ticket",
    "create_app",
    "parse_params",
    "run_server",
]
