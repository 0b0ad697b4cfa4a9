"""`GET /healthz`: the process and its database (503 when the database
cannot answer); `GET /healthz/live`: the process alone, never the database
(a liveness probe that stays up while the database is away)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness with database check")
def healthz(request: Request) -> JSONResponse:
    try:
        ping(request.app.state.engine)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/healthz/live", summary="Liveness of the process (no database)")
async def live() -> JSONResponse:
    return JSONResponse({"status": "ok"})
