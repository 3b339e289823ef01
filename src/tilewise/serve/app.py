"""The FastAPI app: ``POST /v1/detect``, health, readiness, metrics, docs and the page.

FastAPI is imported inside ``create_app`` (the ``serve`` extra), so the rest of
``tilewise.serve`` works without it. Every refusal is a JSON
``{"error": reason, "detail": message}`` with a 4xx status for client input (or 503/504
for overload and deadlines), counted by reason in ``/metrics``; anything unexpected is a
500 ``internal_error``, also counted, and the server keeps serving.

(No ``from __future__ import annotations`` here: FastAPI reads the endpoints'
annotations at run time, and they name types imported inside ``create_app``.)
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from tilewise._version import __version__
from tilewise.serve.api_page import render_api_page
from tilewise.serve.errors import STATUS, Refusal, ServeError, error_body
from tilewise.serve.guard import DETECT_PATH, Guard
from tilewise.serve.params import FIELDS
from tilewise.serve.service import DetectionService, Ticket

__all__ = ["create_app", "page_html"]

log = logging.getLogger("tilewise.serve")

_HTTP_REASONS = {
    400: Refusal.BAD_REQUEST,
    401: Refusal.UNAUTHORIZED,
    404: Refusal.NOT_FOUND,
    405: Refusal.METHOD_NOT_ALLOWED,
    413: Refusal.UPLOAD_TOO_LARGE,
    422: Refusal.INVALID_PARAMETER,
}

DESCRIPTION = """Sliced small-object detection over HTTP, with slices from concurrent requests
batched together. `POST /v1/detect` takes a multipart `image` (JPEG, PNG, TIFF or WebP) and
optional form fields, and returns the JSON document `tilewise predict IMAGE` writes.
Refusals are JSON `{"error": reason, "detail": message}`."""


def page_html() -> str:
    """The web page served at ``/`` (plain HTML and JavaScript, no build step).

    Example:
        >>> "<canvas" in page_html()
        True
    """
    return resources.files("tilewise.serve").joinpath("static/index.html").read_text("utf-8")


def _form_doc() -> str:
    return "\n".join(f"- `{name}`: {text}" for name, text in FIELDS.items())


def create_app(service: DetectionService) -> Any:
    """The ASGI app serving ``service`` (started and closed with the app's lifespan).

    Args:
        service: the detection service (model, batcher, limits, metrics).

    Returns:
        A ``fastapi.FastAPI`` app with the ``Guard`` middleware (and CORS when configured).

    Example:
        >>> import pytest; _ = pytest.importorskip("fastapi")
        >>> import numpy as np
        >>> from tilewise import Detections
        >>> app = create_app(DetectionService(lambda ims: [Detections.empty() for _ in ims]))
        >>> sorted(r.path for r in app.routes if r.path.startswith("/v1"))
        ['/v1/detect']
    """
    from fastapi import FastAPI, File, Form, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
    from pydantic import BaseModel
    from starlette.exceptions import HTTPException as StarletteHTTPException

    cfg = service.config
    executor: dict[str, ThreadPoolExecutor] = {}

    @asynccontextmanager
    async def lifespan(_: Any) -> Any:
        service.start()
        executor["pool"] = ThreadPoolExecutor(cfg.max_inflight, thread_name_prefix="tilewise-req")
        try:
            yield
        finally:
            service.drain()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, service.close)  # runs what is still queued
            executor.pop("pool").shutdown(wait=True)

    app = FastAPI(  # /docs is served below: Swagger UI loads its files from a CDN
        title="tilewise",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    class ErrorBody(BaseModel):
        """A refusal."""

        error: str
        detail: str

    def refusal(error: ServeError) -> JSONResponse:
        service.metrics.refused(error.reason.value)
        return JSONResponse(error_body(error), status_code=error.status, headers=error.headers())

    @app.exception_handler(ServeError)
    async def _serve_error(_: Request, exc: ServeError) -> JSONResponse:
        return refusal(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        detail = "; ".join(parts) or "invalid request"
        if any("image" in p for p in parts):
            detail += " (send the image as the multipart field 'image')"
        return refusal(ServeError(Refusal.INVALID_PARAMETER, detail))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.scope.get("tilewise.body", {}).get("too_large"):
            return JSONResponse({}, status_code=413)  # replaced by the Guard's own 413
        reason = _HTTP_REASONS.get(exc.status_code, Refusal.BAD_REQUEST)
        error = ServeError(reason, str(exc.detail))
        service.metrics.refused(reason.value)
        status = exc.status_code if exc.status_code in STATUS.values() else 400
        return JSONResponse(error_body(error), status_code=status)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return refusal(ServeError(Refusal.INTERNAL_ERROR, f"internal error: {type(exc).__name__}"))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html())

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> str:
        return render_api_page(app.openapi())

    @app.get("/healthz", summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="Readiness: the model is loaded and requests are taken.",
        responses={503: {"model": ErrorBody}},
    )
    async def readyz() -> Any:
        if not service.ready():
            return JSONResponse(
                {"error": "not_ready", "detail": "the server is starting or shutting down"},
                status_code=503,
                headers={"Retry-After": str(cfg.retry_after_s)},
            )
        return {
            "status": "ready",
            "model": service.model_name,
            "classes": list(service.names),
            "slice_wh": list(service.default_slice),
            "fields": FIELDS,
            "limits": cfg.limits(),
            "config": None if service.preset is None else dict(service.preset.settings),
        }

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics.")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    errors = {
        status: {"model": ErrorBody, "description": ", ".join(r.value for r in refusals)}
        for status in sorted(set(STATUS.values()))
        if (refusals := [r for r, s in STATUS.items() if s == status])
    }

    @app.post(
        DETECT_PATH,
        summary="Detect small objects in an image by sliced inference.",
        description="Multipart form: `image` (JPEG, PNG, TIFF or WebP) and optional fields:\n\n"
        + _form_doc()
        + "\n\nReturns the JSON document `tilewise predict IMAGE` writes, plus `grid` (the "
        "slice boxes), `batching` and `timings`.",
        responses=errors,  # type: ignore[arg-type]
    )
    async def detect(
        request: Request,
        image: UploadFile = File(..., description="JPEG, PNG, TIFF or WebP image."),  # noqa: B008
        slice: str | None = Form(None, description=FIELDS["slice"]),
        overlap: str | None = Form(None, description=FIELDS["overlap"]),
        merge: str | None = Form(None, description=FIELDS["merge"]),
        metric: str | None = Form(None, description=FIELDS["metric"]),
        threshold: str | None = Form(None, description=FIELDS["threshold"]),
        class_agnostic: str | None = Form(None, description=FIELDS["class_agnostic"]),
        conf: str | None = Form(None, description=FIELDS["conf"]),
        full_frame: str | None = Form(None, description=FIELDS["full_frame"]),
        classes: str | None = Form(None, description=FIELDS["classes"]),
        zoom: str | None = Form(None, description=FIELDS["zoom"]),
        scales: str | None = Form(None, description=FIELDS["scales"]),
    ) -> Any:
        ticket: Ticket = request.scope["tilewise.ticket"]  # admitted by the Guard
        form = await request.form()
        fields = {k: v for k, v in form.items() if k != "image"}
        texts = {k: v for k, v in fields.items() if isinstance(v, str)}
        if len(texts) != len(fields):
            raise ServeError(
                Refusal.INVALID_PARAMETER,
                f"only 'image' may be a file; got files in {sorted(set(fields) - set(texts))}",
            )
        params = service.params(texts)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            executor["pool"], service.detect_upload, image.file, image.filename, params, ticket
        )
        try:
            return await asyncio.wait_for(future, max(ticket.remaining(), 0.0) + 0.25)
        except asyncio.TimeoutError:
            ticket.cancel()
            raise ServeError(
                Refusal.DEADLINE_EXCEEDED,
                f"the request did not finish within this server's deadline of {cfg.timeout_s:g} s",
            ) from None

    app.add_middleware(Guard, service=service)  # type: ignore[arg-type]
    if cfg.cors_origins:  # outside the Guard: preflights carry no API key
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,  # type: ignore[arg-type]
            allow_origins=list(cfg.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.state.service = service
    return app
