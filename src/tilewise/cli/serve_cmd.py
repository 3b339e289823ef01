"""``tilewise serve``: the HTTP detection service (``tilewise.serve``), on 127.0.0.1 by default.

Registered as a single command: ``Command("serve", serve_cmd.serve)``. The model comes
from the one ``--model`` loader (``tilewise.cli.model_option``); an ONNX model is loaded
with ``--min-conf`` as its threshold and every request filters at its own ``conf``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tilewise.cli.console import echo
from tilewise.cli.model_option import MODEL_HELP, describe_model, load_model
from tilewise.errors import TilewiseError

__all__ = ["serve"]


def _read_api_key(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TilewiseError(f"--api-key-file {path}: {exc.strerror or exc}") from None
    if not key:
        raise TilewiseError(f"--api-key-file {path} is empty")
    return key


def _load(spec: str | None, conf: float, iou: float) -> Any:
    if spec is None:
        from tilewise.models import default_detector

        return default_detector(conf=conf, iou=iou)
    return load_model(spec, conf=conf, iou=iou)


def serve(
    model: Annotated[
        str | None, typer.Option(help=MODEL_HELP + " Default: the bundled detector.")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; the default serves this machine only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port, announced).")] = 8000,
    max_batch: Annotated[
        int, typer.Option("--max-batch", help="Slices per model call at most, across requests.")
    ] = 8,
    max_delay_ms: Annotated[
        float,
        typer.Option("--max-delay-ms", help="How long a queued slice waits for a batch to fill."),
    ] = 5.0,
    workers: Annotated[
        int, typer.Option(help="Threads calling the model at once (one process, one queue).")
    ] = 1,
    batching: Annotated[
        bool,
        typer.Option(
            "--batching/--no-batching",
            help="Batch slices across requests (default), or each request's apart.",
        ),
    ] = True,
    max_inflight: Annotated[
        int,
        typer.Option("--max-inflight", help="Requests in flight at once; more get 503."),
    ] = 32,
    timeout: Annotated[
        float, typer.Option(help="Per-request deadline in seconds (504 past it).")
    ] = 30.0,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Upload size limit in MiB (413).")
    ] = 100.0,
    max_pixels: Annotated[
        str,
        typer.Option(
            "--max-pixels", help="Decoded-pixel limit, from the header (413), e.g. 100MP."
        ),
    ] = "100MP",
    max_slices: Annotated[
        int, typer.Option("--max-slices", help="Slices one request may ask for (422).")
    ] = 1024,
    min_conf: Annotated[
        float,
        typer.Option("--min-conf", help="Lowest conf a request may ask for (the model's own)."),
    ] = 0.05,
    conf: Annotated[float, typer.Option(help="conf of requests that give none.")] = 0.25,
    iou: Annotated[float, typer.Option(help="IoU threshold of the model's NMS.")] = 0.7,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            "--api-key-file", help="File holding an API key that /v1/* requests must send."
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="Origin allowed by CORS (repeat); default: none."),
    ] = None,
    allow_truncated: Annotated[
        bool,
        typer.Option("--allow-truncated", help="Read truncated uploads (missing rows black)."),
    ] = False,
    max_input_zooms: Annotated[
        int,
        typer.Option(
            "--max-input-zooms",
            min=1,
            help="With a dynamic-input ONNX model: request zooms served at once, each by "
            "its own batcher at its own input size (an idle one gives way to a new zoom; "
            "503 when all are in use).",
        ),
    ] = 4,
    graceful_timeout: Annotated[
        float,
        typer.Option(
            "--graceful-timeout", help="Seconds in-flight requests get to finish on SIGTERM."
        ),
    ] = 30.0,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")] = "info",
    config: Annotated[
        Path | None,
        typer.Option(
            help="Slicer settings file (written by tilewise tune): every request runs it, as "
            "tilewise predict --config does, and may set only conf and classes."
        ),
    ] = None,
) -> None:
    """Serve sliced detection over HTTP: POST /v1/detect, a web page at /, /metrics, /docs.

    Slices from concurrent requests share the model's batches (up to --max-batch, waiting
    at most --max-delay-ms); every answer equals `tilewise predict IMAGE`'s for the same
    settings. SIGTERM drains: admitted requests finish, then the process exits 0.
    """
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401  (python-multipart; "multipart" is its old name)
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise TilewiseError(
            f"tilewise serve needs the serve extra ({exc.name} is missing): "
            "pip install 'tilewise[serve]'"
        ) from None
    from tilewise.images.options import parse_max_pixels
    from tilewise.serve import DetectionService, ServeConfig, create_app, run_server

    settings = ServeConfig(
        max_batch=max_batch,
        max_delay_ms=max_delay_ms,
        workers=workers,
        cross_request=batching,
        max_inflight=max_inflight,
        timeout_s=timeout,
        max_upload_bytes=int(max_upload_mb * 2**20),
        max_pixels=parse_max_pixels(max_pixels, name="--max-pixels"),
        max_slices=max_slices,
        min_conf=min_conf,
        default_conf=conf,
        api_key=_read_api_key(api_key_file),
        cors_origins=tuple(cors_origin or ()),
        allow_truncated=allow_truncated,
        max_input_zooms=max_input_zooms,
    )
    detector = _load(model, min_conf, iou)
    service = DetectionService(
        detector, settings, model_name=describe_model(detector, model), preset=config
    )
    app = create_app(service)
    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(f"note: serving on {host}, not loopback only: other machines can reach it")
    run_server(
        app,
        service,
        host=host,
        port=port,
        graceful_timeout_s=graceful_timeout,
        log_level=log_level,
    )
