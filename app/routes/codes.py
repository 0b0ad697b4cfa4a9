"""Referral codes: list, issue, show, redeem, void. The same domain calls as
SMS and USSD (`app.domain.codes`), with channel `api`. `{code}` accepts any
spaces or dashes (`4821-5093`, `4821 5093`, `48215093`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status

from app import clock
from app.domain import audit, chains, code_text, codes, listings, registry
from app.domain.phones import mask_phone
from app.figure_schemas import ChainNodePublic, ChainPublic
from app.models import ApiRole, Channel, CodeState
from app.routes.deps import (
    CONFLICT,
    MAX_ID,
    NOT_FOUND,
    THROTTLED,
    AdminKey,
    AnyKey,
    PagingDep,
    ReaderKey,
    RedeemerKey,
    SessionDep,
    SettingsDep,
    actor_of,
    clinic_scope,
    committing_refusals,
    sees_phones,
)
from app.schemas import CodeIssue, CodePublic, CodeRedeem, IsoDate, Page, RedemptionPublic

router = APIRouter(prefix="/codes", tags=["codes"])

CodePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=40,
        pattern=r"^[0-9][0-9 .-]*$",
        description="8 digits, spaces or dashes allowed",
    ),
]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def code_public(row: listings.CodeRow, *, full_phone: bool) -> CodePublic:
    c, r = row.code, row.redemption
    return CodePublic(
        code=c.code,
        display=code_text.format_code(c.code),
        state=code_text.effective_state(c, clock.now()),
        population_group=c.population_group,
        service=row.service,
        wave=c.wave,
        worker_id=c.worker_id,
        clinic_id=c.clinic_id,
        client_phone=(c.client_phone if full_phone else mask_phone(c.client_phone))
        if c.client_phone
        else None,
        channel=c.channel,
        issued_at=c.issued_at,
        expires_at=c.expires_at,
        voided_at=c.voided_at,
        redeemed_at=r.redeemed_at if r else None,
        redeemed_clinic_id=r.clinic_id if r else None,
    )


def redemption_public(row: listings.RedemptionRow, *, full_phone: bool = True) -> RedemptionPublic:
    """A redemption as the API shows it; without `full_phone`, the actor's phone masked."""
    r, c = row.redemption, row.code
    return RedemptionPublic(
        id=r.id,
        code=c.code,
        display=code_text.format_code(c.code),
        service=row.service,
        clinic_id=r.clinic_id,
        worker_id=c.worker_id,
        issued_at=c.issued_at,
        redeemed_at=r.redeemed_at,
        channel=r.channel,
        actor=r.actor if full_phone else audit.masked_actor(r.actor),
    )


@router.get(
    "",
    summary="List and filter codes",
    description="Newest first. `state` is the effective state (an issued code past expiry is expired); "
    "`clinic_id` matches the clinic referred to or redeemed at; dates are local days, both included.",
    response_model=Page[CodePublic],
)
def list_codes(
    session: SessionDep,
    settings: SettingsDep,
    key: ReaderKey,
    page: PagingDep,
    state: CodeState | None = None,
    service: Annotated[str | None, Query(max_length=16, description="service code, e.g. VCT")] = None,
    worker_id: OptionalId = None,
    clinic_id: OptionalId = None,
    issued_from: IsoDate | None = None,
    issued_to: IsoDate | None = None,
):
    rows, total = listings.list_codes(
        session,
        tz=settings.tz,
        limit=page.limit,
        offset=page.offset,
        state=state,
        service=service,
        worker_id=worker_id,
        clinic_id=clinic_id,
        issued_from=issued_from,
        issued_to=issued_to,
    )
    return Page(items=[code_public(r, full_phone=sees_phones(key)) for r in rows], total=total)


@router.post(
    "",
    summary="Issue a code",
    description="Issues a code for a service, optionally by a worker, for a client phone (who then gets it by "
    "SMS) and a suggested clinic: 201. When that client already holds a valid code for the service, no code "
    "is issued: that code is sent to the client again and returned with 200 (its worker and clinic unchanged).",
    status_code=status.HTTP_201_CREATED,
    response_model=CodePublic,
    responses={**NOT_FOUND, **CONFLICT, 200: {"description": "The client's valid code, resent"}},
)
def issue_code(
    body: CodeIssue, response: Response, session: SessionDep, settings: SettingsDep, key: AdminKey
):
    worker = registry.get_worker(session, body.worker_id) if body.worker_id else None
    issued = codes.refer(
        session,
        settings,
        service=body.service,
        worker=worker,
        client_phone=body.client_phone,
        clinic_id=body.clinic_id,
        channel=Channel.api,
        actor=actor_of(key),
        population_group=body.population_group,
    )
    session.commit()
    if issued.resent:
        response.status_code = status.HTTP_200_OK
    return code_public(listings.code_row(session, issued.code), full_phone=True)


@router.get(
    "/{code}",
    summary="Show a code",
    description="Every look-up is audited; a key over the wrong-code limit gets 429. A clinic key sees "
    "where and when a code was redeemed only when it was redeemed at its own clinic.",
    response_model=CodePublic,
    responses={**NOT_FOUND, **THROTTLED},
)
def show_code(code: CodePath, session: SessionDep, settings: SettingsDep, key: AnyKey):
    with committing_refusals(session):
        row = codes.look_up(session, settings, code, actor=actor_of(key))
    shown = code_public(listings.code_row(session, row), full_phone=sees_phones(key))
    if key.role == ApiRole.clinic and shown.redeemed_clinic_id != key.clinic_id:
        # another clinic's redemption: that it happened, not where or when
        shown = shown.model_copy(update={"redeemed_at": None, "redeemed_clinic_id": None})
    return shown


def chain_node_public(node: chains.ChainNode, *, full_phone: bool) -> ChainNodePublic:
    c = node.code
    return ChainNodePublic(
        code=c.code,
        display=code_text.format_code(c.code),
        wave=c.wave,
        state=code_text.effective_state(c, clock.now()),
        service=node.service,
        clinic_id=c.redeemed_clinic_id or c.clinic_id,
        client_phone=(c.client_phone if full_phone else mask_phone(c.client_phone))
        if c.client_phone
        else None,
        issued_at=c.issued_at,
        expires_at=c.expires_at,
        redeemed_at=c.redeemed_at,
        children=[chain_node_public(child, full_phone=full_phone) for child in node.children],
    )


@router.get(
    "/{code}/chain",
    summary="The referral chain below a code",
    description="The peer coupons a code gave, theirs, and so on, wave by wave (at most "
    f"{chains.MAX_NODES} codes). Phones masked unless admin. Every look-up is audited; a key over the "
    "wrong-code limit gets 429.",
    response_model=ChainPublic,
    responses={**NOT_FOUND, **THROTTLED},
)
def show_chain(code: CodePath, session: SessionDep, settings: SettingsDep, key: ReaderKey):
    with committing_refusals(session):
        row = codes.look_up(session, settings, code, actor=actor_of(key))
    tree = chains.chain_below(session, row)
    parent = codes.code_by_id(session, row.parent_code_id) if row.parent_code_id else None
    return ChainPublic(
        parent_code=parent.code if parent else None,
        size=tree.size,
        truncated=tree.truncated,
        root=chain_node_public(tree.root, full_phone=sees_phones(key)),
    )


@router.post(
    "/{code}/redeem",
    summary="Redeem a code at a clinic",
    description="A clinic key redeems at its own clinic; an admin key names the clinic (`clinic_id`). "
    "A code is redeemed at most once; every attempt is audited; a key over the wrong-code limit gets 429. "
    "`client_phone` records the client's phone on a code that has none (never overwritten), so the client "
    "gets their peer coupons; an invalid phone is a 422 and nothing is redeemed.",
    response_model=RedemptionPublic,
    responses={**NOT_FOUND, **CONFLICT, **THROTTLED},
)
def redeem_code(
    code: CodePath,
    session: SessionDep,
    settings: SettingsDep,
    key: RedeemerKey,
    body: Annotated[CodeRedeem | None, Body()] = None,
):
    clinic = registry.clinic_for_redemption(session, clinic_scope(key, body.clinic_id if body else None))
    with committing_refusals(session):
        redemption = codes.redeem_code(
            session,
            settings,
            code,
            clinic=clinic,
            channel=Channel.api,
            actor=actor_of(key),
            throttle_first=True,
            client_phone=body.client_phone if body else None,
        )
    return redemption_public(listings.redemption_row(session, redemption))


@router.post(
    "/{code}/void",
    summary="Void a code",
    description="Only an issued, unexpired code can be voided; its reminders are cancelled.",
    response_model=CodePublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def void_code(code: CodePath, session: SessionDep, key: AdminKey):
    row = codes.void_code(session, code, worker=None, actor=actor_of(key))
    session.commit()
    return code_public(listings.code_row(session, row), full_phone=True)
