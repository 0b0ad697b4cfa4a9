"""`GET /metrics`: Prometheus' scrape, with a bearer token.

- `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time) or
  `Bearer <an admin or viewer API key>` is let through in every APP_ENV;
- anything else: 401 when METRICS_TOKEN is set or APP_ENV=production;
  open when METRICS_TOKEN is empty and APP_ENV is local or test.

The figures come from `app.metrics.MetricsCache`: read from the database at
most once per METRICS_CACHE_SECONDS, off the event loop."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from app.domain.apikeys import KEY_PREFIX, find_api_key
from app.metrics import MetricsUnavailable, render
from app.models import ApiRole

router = APIRouter(tags=["operations"])


def _bearer(request: Request) -> str:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def _reader_key(request: Request, plain: str) -> bool:
    """Whether `plain` is a usable admin or viewer API key (notes its use)."""
    with request.app.state.session_factory() as session:
        key = find_api_key(session, plain)
        session.commit()
        return key is not None and key.role in (ApiRole.admin, ApiRole.viewer)


async def _check_access(request: Request) -> None:
    settings = request.app.state.settings
    expected = settings.metrics_token
    given = _bearer(request)
    if expected and given and hmac.compare_digest(given.encode(), expected.encode()):
        return
    if given.startswith(KEY_PREFIX) and await run_in_threadpool(_reader_key, request, given):
        return
    if not expected and settings.app_env != "production":
        return
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "metrics need a token: Authorization: Bearer <METRICS_TOKEN or an admin or viewer API key>",
        headers={"WWW-Authenticate": "Bearer"},
    )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    await _check_access(request)
    cache = request.app.state.metrics
    figures = cache.fresh()
    if figures is None:
        try:
            figures = await run_in_threadpool(cache.figures)
        except MetricsUnavailable as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}
            ) from None
    return Response(render(figures), media_type=CONTENT_TYPE_LATEST)
