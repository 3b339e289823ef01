"""``GET /docs``: the API reference as one self-contained HTML page, rendered from OpenAPI.

FastAPI's own ``/docs`` is Swagger UI, whose script and styles come from a CDN: on the
air-gapped networks where detection services often run, that page stays blank. This page
is rendered on the server from the same OpenAPI document (``/openapi.json``) and needs
nothing else: every route with its summary, description, form fields or parameters (type,
description) and responses (status and reason). No script, no external resource.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

__all__ = ["render_api_page"]

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font-family:ui-monospace,monospace;background:#f3f3f3;padding:0 .25em;border-radius:3px}
pre{padding:.6em;white-space:pre-wrap}
section{border:1px solid #ddd;border-radius:6px;padding:.3rem 1rem 1rem;margin:1rem 0}
h2 .method{display:inline-block;min-width:4.2em;color:#fff;background:#555;border-radius:4px;
text-align:center;font-size:.8em;margin-right:.5em}
h2 .post{background:#2a7d46}h2 .get{background:#2b5fa8}
table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #e3e3e3;padding:.3em .5em;
text-align:left;vertical-align:top}
"""


def _resolve(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema with its ``$ref`` (``#/components/schemas/Name``) followed."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def _type(schema: Mapping[str, Any]) -> str:
    """A schema's type in a few words: ``string``, ``integer or null``, ``file``."""
    if schema.get("format") == "binary" or "contentMediaType" in schema:
        return "file"
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return str(kind) if kind else "any"


def _rows(cells: list[tuple[str, str, str]], head: tuple[str, str, str]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for a, b, c in cells:
        out.append(
            f"<tr><td><code>{html.escape(a)}</code></td><td>{html.escape(b)}</td>"
            f"<td>{html.escape(c)}</td></tr>"
        )
    return "".join(out) + "</table>"


def _operation(spec: Mapping[str, Any], path: str, method: str, op: Mapping[str, Any]) -> str:
    parts = [
        f'<section id="{html.escape(op.get("operationId", path))}">'
        f'<h2><span class="method {method}">{method.upper()}</span><code>{html.escape(path)}'
        f"</code></h2><p>{html.escape(op.get('summary', ''))}</p>"
    ]
    if op.get("description"):
        parts.append(f"<pre>{html.escape(op['description'])}</pre>")
    params = [
        (p.get("name", ""), f"{p.get('in', '')} {_type(p.get('schema', {}))}",
         p.get("description", ""))
        for p in op.get("parameters", [])
    ]  # fmt: skip
    for media, body in op.get("requestBody", {}).get("content", {}).items():
        schema = _resolve(spec, body.get("schema", {}))
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            kind = _type(prop) + (", required" if name in required else "")
            params.append((name, f"{media} field: {kind}", prop.get("description", "")))
    if params:
        parts.append("<h3>Input</h3>" + _rows(params, ("name", "type", "description")))
    responses = [
        (status, ", ".join(r.get("content", {})) or "-", r.get("description", ""))
        for status, r in sorted(op.get("responses", {}).items())
    ]
    if responses:
        parts.append("<h3>Responses</h3>" + _rows(responses, ("status", "body", "reason")))
    return "".join(parts) + "</section>"


def render_api_page(spec: Mapping[str, Any]) -> str:
    """The HTML page of an OpenAPI document: every route, its input and its responses.

    Example:
        >>> spec = {"info": {"title": "svc", "version": "1"}, "paths": {"/ping": {"get": {
        ...     "summary": "Answers.", "responses": {"200": {"description": "pong"}}}}}}
        >>> page = render_api_page(spec)
        >>> "<code>/ping</code>" in page, "pong" in page, "<script" in page
        (True, True, False)
    """
    info = spec.get("info", {})
    title = html.escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
    sections = [
        _operation(spec, path, method, op)
        for path, methods in spec.get("paths", {}).items()
        for method, op in methods.items()
        if isinstance(op, Mapping)
    ]
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title} API</title>"
        f"<style>{_STYLE}</style></head><body><h1>{title} API</h1>"
        f"<pre>{html.escape(info.get('description', ''))}</pre>"
        '<p>The machine-readable document: <a href="openapi.json">openapi.json</a>.</p>'
        + "".join(sections)
        + "</body></html>"
    )
