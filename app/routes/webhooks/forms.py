"""Reading a gateway's form-encoded callback, the same way for every gateway:
a body within bounds, UTF-8 form data, the fields a spec names. Bad input is
a 4xx JSON answer, logged, before anything is stored."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request, status

log = logging.getLogger("hen.webhooks")

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 64


def refuse(code: int, detail: str, path: str) -> HTTPException:
    log.warning("webhook refused", extra={"path": path, "status": code, "reason": detail})
    return HTTPException(code, detail)


async def read_form(request: Request, spec: dict[str, tuple[bool, int]]) -> dict[str, str]:
    """The callback's fields, checked against `spec`. Raises 413 for a body
    over MAX_BODY_BYTES (before parsing it), 415 for another content type,
    400 for a body that is not UTF-8 form data or lacks a required field."""
    path = request.url.path
    if declared_too_big(request, MAX_BODY_BYTES):
        raise too_big(MAX_BODY_BYTES, path)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise refuse(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "expected application/x-www-form-urlencoded", path
        )
    body = await read_capped_body(request, MAX_BODY_BYTES)
    if body is None:
        raise too_big(MAX_BODY_BYTES, path)
    try:
        pairs = parse_form(body)
    except ValueError:  # UnicodeDecodeError included
        raise refuse(status.HTTP_400_BAD_REQUEST, "body is not UTF-8 form data", path) from None
    return _checked(pairs, spec, path)


def declared_too_big(request: Request, limit: int) -> bool:
    """A Content-Length over `limit`, or one that is not a number."""
    declared = request.headers.get("content-length")
    return declared is not None and (not declared.isdigit() or int(declared) > limit)


def too_big(limit: int, path: str) -> HTTPException:
    """The 413 (logged) for a body over `limit` bytes."""
    return refuse(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {limit} bytes", path)


async def read_capped_body(request: Request, limit: int) -> bytes | None:
    """The body as it arrives (chunked or not, whatever Content-Length
    says), or None as soon as it passes `limit` bytes: the rest is never
    read, so a huge body costs no more memory than `limit`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """Form-encoded UTF-8 pairs; ValueError for anything else."""
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")


def read_query(request: Request, spec: dict[str, tuple[bool, int]]) -> dict[str, str]:
    """The fields of a callback sent as a query string (`GET`, as Kannel's
    `get-url` does), checked against `spec` like `read_form`'s."""
    path = request.url.path
    query = request.scope.get("query_string", b"")
    if len(query) > MAX_BODY_BYTES:
        raise refuse(status.HTTP_414_URI_TOO_LONG, f"query longer than {MAX_BODY_BYTES} bytes", path)
    try:
        pairs = parse_qsl(
            query.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict"
        )
    except ValueError:
        raise refuse(status.HTTP_400_BAD_REQUEST, "query is not UTF-8 form data", path) from None
    return _checked(pairs, spec, path)


def _checked(pairs: list[tuple[str, str]], spec: dict[str, tuple[bool, int]], path: str) -> dict[str, str]:
    """The first value of each field `spec` names; 400 for a required one
    missing or one longer than its limit. Text keeps its spaces."""
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in spec and name not in form:
            form[name] = value.replace("\x00", "")
    for name, (required, max_length) in spec.items():
        value = form.get(name)
        if value is None:
            if required:
                raise refuse(status.HTTP_400_BAD_REQUEST, f"{name}: field required", path)
            continue
        if len(value) > max_length:
            raise refuse(status.HTTP_400_BAD_REQUEST, f"{name}: longer than {max_length} characters", path)
        if name != "text":
            form[name] = value.strip()
    return form
