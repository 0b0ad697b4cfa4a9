"""API keys (admin keys only): `GET|POST /api-keys`,
`POST /api-keys/{id}/revoke`, `POST /api-keys/{id}/rotate`. A plain key
is shown once, in the answer that made it."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.domain import apikeys
from app.routes.deps import CONFLICT, NOT_FOUND, AdminKey, IdPath, SessionDep, actor_of
from app.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeyRotate

router = APIRouter(prefix="/api-keys", tags=["api keys"])


def _created(row, plain: str) -> ApiKeyCreated:
    return ApiKeyCreated(**ApiKeyPublic.model_validate(row, from_attributes=True).model_dump(), key=plain)


@router.get("", summary="List API keys", response_model=list[ApiKeyPublic])
def list_keys(session: SessionDep, key: AdminKey):
    return [ApiKeyPublic.model_validate(r, from_attributes=True) for r in apikeys.list_api_keys(session)]


@router.post(
    "",
    summary="Create an API key",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses={**CONFLICT, **NOT_FOUND},
)
def create_key(body: ApiKeyCreate, session: SessionDep, key: AdminKey):
    row, plain = apikeys.create_api_key(session, actor=actor_of(key), **body.model_dump())
    session.commit()
    return _created(row, plain)


@router.post(
    "/{key_id}/revoke",
    summary="Revoke an API key at once",
    response_model=ApiKeyPublic,
    responses={**CONFLICT, **NOT_FOUND},
)
def revoke_key(key_id: IdPath, session: SessionDep, key: AdminKey):
    row = apikeys.revoke_api_key(session, key_id, actor=actor_of(key))
    session.commit()
    return ApiKeyPublic.model_validate(row, from_attributes=True)


@router.post(
    "/{key_id}/rotate",
    summary="Replace an API key: the old one stops working, the new one keeps its name",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses={**CONFLICT, **NOT_FOUND},
)
def rotate_key(key_id: IdPath, body: ApiKeyRotate, session: SessionDep, key: AdminKey):
    row, plain = apikeys.rotate_api_key(
        session, key_id, actor=actor_of(key), expires_in_days=body.expires_in_days
    )
    session.commit()
    return _created(row, plain)
