"""`GET /metrics`: Prometheus' scrape, with a bearer token.

- METRICS_TOKEN set: `Authorization: Bearer <METRICS_TOKEN>` is required
  (401 without it, compared in constant time), in every APP_ENV.
- METRICS_TOKEN empty: open when APP_ENV is local or test; 404 when
  APP_ENV=production (no figures for anyone who asks).

The figures come from `app.metrics.MetricsCache`: read from the database at
most once per METRICS_CACHE_SECONDS, off the event loop."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from app.metrics import MetricsUnavailable, render

router = APIRouter(tags=["operations"])


def _check_access(request: Request) -> None:
    settings = request.app.state.settings
    expected = settings.metrics_token
    if not expected:
        if settings.app_env == "production":
            raise HTTPException(status.HTTP_404_NOT_FOUND, "metrics are off: METRICS_TOKEN is not set")
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not (scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the metrics token is required: Authorization: Bearer <METRICS_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    _check_access(request)
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
