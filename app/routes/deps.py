"""FastAPI dependencies, named once as `Annotated` aliases so route
signatures read as sentences."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from app.config import Settings
from app.domain.apikeys import find_api_key
from app.domain.errors import DomainError
from app.models import MAX_ID, ApiKey, ApiRole
from app.schemas import ErrorDetail

# ---------------------------------------------------------------- webhooks: the shared secret


async def require_webhook_token(request: Request) -> None:
    """Africa's Talking does not sign its callbacks: each carries the shared
    secret as `?token=` or an `X-Webhook-Token` header. Compared in constant
    time; a wrong or missing token is a 403 before the body is read."""
    import hmac

    given = request.query_params.get("token") or request.headers.get("x-webhook-token") or ""
    expected = request.app.state.settings.webhook_token
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or missing webhook token")


# ---------------------------------------------------------------- admin API: session and API keys


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request. Routes that write commit explicitly after the
    domain call, so the answer is only sent once the change is stored; any
    error rolls everything back (nothing half-written)."""
    session = request.app.state.session_factory()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="An API key made with `hen apikey create`.")


def current_api_key(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The usable key of `Authorization: Bearer <key>` (active, not expired,
    a clinic key's clinic active), else 401."""
    key = find_api_key(session, credentials.credentials) if credentials else None
    if session.dirty:  # the key's last use noted
        session.commit()
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


ApiKeyDep = Annotated[ApiKey, Depends(current_api_key)]


def require_role(*roles: ApiRole):
    """A dependency letting only keys of `roles` through (403 for the others)."""
    allowed = frozenset(roles)

    def check(key: ApiKeyDep) -> ApiKey:
        if key.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"a {key.role} key may not do this (needs: {names})"
            )
        return key

    check.roles = allowed  # type: ignore[attr-defined]  # read by the role table test
    return Depends(check)


AdminKey = Annotated[ApiKey, require_role(ApiRole.admin)]
ReaderKey = Annotated[ApiKey, require_role(ApiRole.admin, ApiRole.viewer)]
RedeemerKey = Annotated[ApiKey, require_role(ApiRole.admin, ApiRole.clinic)]
AnyKey = Annotated[ApiKey, require_role(ApiRole.admin, ApiRole.viewer, ApiRole.clinic)]


def sees_phones(key: ApiKey) -> bool:
    """Only admin keys see whole phone numbers; the others see them masked."""
    return key.role == ApiRole.admin


def clinic_scope(key: ApiKey, requested: int | None) -> int | None:
    """The clinic a listing is limited to, or where a redemption happens: a
    clinic key has its own clinic only, whatever it asks; other keys (admin)
    name the clinic."""
    return key.clinic_id if key.role == ApiRole.clinic else requested


def actor_of(key: ApiKey) -> str:
    """How an API key appears in the audit log and on redemptions."""
    return f"key:{key.name}"


# ---------------------------------------------------------------- admin API: paging and documented errors


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(
    limit: Annotated[int, Query(ge=1, le=500, description="rows per page (1..500)")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="rows to skip")] = 0,
) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="numeric id")]


def _error(description: str) -> dict:
    return {"model": ErrorDetail, "description": description}


API_ERRORS: dict[int | str, dict] = {
    400: _error("the request body could not be read"),
    401: _error("missing or unknown API key"),
    403: _error("this key's role may not do this"),
    422: _error("invalid input: the message names the field"),
}
NOT_FOUND: dict[int | str, dict] = {404: _error("no such row")}
CONFLICT: dict[int | str, dict] = {409: _error("refused by a rule (duplicate, state of the code, ...)")}
THROTTLED: dict[int | str, dict] = {
    429: _error("too many unknown or malformed codes from this key in the hour")
}


@contextmanager
def committing_refusals(session: Session) -> Iterator[None]:
    """Commit the domain call's work; when the domain refuses (DomainError),
    still commit what it recorded about the attempt (its audit row), then
    let the refusal through. Any other error rolls everything back."""
    try:
        yield
    except DomainError:
        session.commit()
        raise
    session.commit()


def _known_query_parameters(route) -> frozenset[str]:
    """The query parameters a route and its dependencies read (cached on the route)."""
    known = getattr(route, "hen_query_parameters", None)
    if known is None:
        names: set[str] = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            names.update(p.alias for p in dependant.query_params)
            pending.extend(dependant.dependencies)
        known = route.hen_query_parameters = frozenset(names)
    return known


def reject_repeated_query_parameters(request: Request) -> None:
    """Every admin API query parameter takes one value: `?state=a&state=b`
    is refused (422) rather than silently read as its last value; and a
    parameter the route does not take (`/codes?from=` for `issued_from`) is
    refused rather than silently ignored."""
    seen: set[str] = set()
    route = request.scope.get("route")
    known = _known_query_parameters(route) if route is not None else None
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: given more than once")
        if known is not None and name not in known:
            takes = ", ".join(sorted(known)) or "none"
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"{name}: not a parameter of this route (it takes: {takes})",
            )
        seen.add(name)
