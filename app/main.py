"""The ASGI application: `app.main:app`.

`create_app(settings, gateway)` builds one application with its own engine,
session factory, gateway and dispatcher (tests build several)."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.config import Settings, get_settings
from app.db import (
    DATABASE_UNAVAILABLE,
    engine_options,
    hand_over_after_commit,
    make_engine,
    read_session_factory,
    session_factory,
)
from app.domain.dhis2 import load_mapping
from app.domain.errors import DomainError
from app.metrics import MetricsCache
from app.routes import api, console, health, metrics
from app.routes.webhooks import africastalking as africastalking_webhooks
from app.routes.webhooks import kannel as kannel_webhooks
from app.routes.webhooks import medic_gateway as medic_gateway_webhooks
from app.sending.dispatcher import Dispatcher
from app.sending.gateways.africastalking import AfricasTalkingGateway
from app.sending.gateways.base import Gateway
from app.sending.gateways.console import ConsoleGateway
from app.sending.gateways.kannel import KannelGateway
from app.sending.gateways.medic_gateway import MedicGateway
from app.sending.gateways.memory import MemoryGateway

log = logging.getLogger("hen.app")
RETRY_AFTER_SECONDS = 5

_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Move what start-up built (modules, metadata, catalogues, the phone
    metadata: some 150,000 objects that live as long as the process) out of
    the cyclic garbage collector's reach. Otherwise every full collection
    walks them all and stalls the process for tens of milliseconds, which
    was most of the webhooks' p99 latency. Once per process: a test run
    that builds many applications freezes only the first one's start-up."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()


def build_gateway(settings: Settings) -> Gateway:
    """The outbound gateway SMS_GATEWAY names, with its settings."""
    if settings.sms_gateway == "memory":
        return MemoryGateway()
    if settings.sms_gateway == "africastalking":
        return AfricasTalkingGateway(
            username=settings.at_username,
            api_key=settings.at_api_key,
            sender_id=settings.at_sender_id or None,
            timeout=settings.gateway_timeout_seconds,
        )
    if settings.sms_gateway == "kannel":
        token = urlencode({"token": settings.webhook_token})
        return KannelGateway(
            sendsms_url=settings.kannel_sendsms_url,
            username=settings.kannel_username,
            password=settings.kannel_password,
            sender=settings.kannel_from or None,
            dlr_url=f"{settings.public_base_url.rstrip('/')}/webhooks/kannel/delivery?{token}",
            timeout=settings.gateway_timeout_seconds,
        )
    if settings.sms_gateway == "medic-gateway":
        return MedicGateway()  # the phone polls /webhooks/medic-gateway for its messages
    return ConsoleGateway()


def _first_error(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def create_app(
    settings: Settings | None = None, gateway: Gateway | None = None, engine: Engine | None = None
) -> FastAPI:
    settings = settings or get_settings()
    # a malformed DHIS2 mapping stops start-up, one line per problem
    dhis2_mapping = load_mapping(settings.dhis2_mapping) if settings.dhis2_mapping else None
    owns_engine = engine is None
    engine = engine or make_engine(settings.database_url, **engine_options(settings))
    factory = session_factory(engine)
    gateway = gateway or build_gateway(settings)
    dispatcher = Dispatcher(factory, gateway, settings)
    # what a request queues is sent right after its commit
    hand_over_after_commit(factory, dispatcher.send_soon)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        _freeze_startup_heap()
        if settings.dispatch_in_process:
            dispatcher.start_background()
        try:
            yield
        finally:
            dispatcher.stop_background()
            if owns_engine:
                engine.dispose()

    app = FastAPI(
        title="Hẹn",
        version="0.1.0",
        summary="SMS and USSD referral and reminder service",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.dhis2_mapping = dhis2_mapping
    app.state.engine = engine
    app.state.session_factory = factory
    app.state.read_session_factory = read_session_factory(engine)
    app.state.gateway = gateway
    app.state.dispatcher = dispatcher

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _first_error(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # down, unreachable, or every pool connection taken: the caller (a
        # gateway, Prometheus, a console) tries again a moment later
        log.warning("database unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
        return JSONResponse(
            {"detail": "database unavailable, try again"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.state.metrics = MetricsCache(engine, settings.metrics_cache_seconds)
    for module in (
        health,
        metrics,
        africastalking_webhooks,
        kannel_webhooks,
        medic_gateway_webhooks,
        api,
        console,
    ):
        app.include_router(module.router)
    return app


def __getattr__(name: str):
    """`app.main:app` is built on first access, so importing this module
    (tests, the CLI) has no side effects."""
    if name == "app":
        global _app
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)


_app: FastAPI | None = None
