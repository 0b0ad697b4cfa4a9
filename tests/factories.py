"""What the tests build and send, in one place: API keys, demo-data look-ups,
referral codes, inbound SMS through the Africa's Talking webhook and USSD
steps, with the readers of what they stored. Most need the demo data
(the `demo` fixture)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select
from stdnum import damm

from app import clock
from app.channels.ussd.screens import MAX_REPLY, to_ascii, ussd_language
from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE
from app.domain import audit, code_text, codes
from app.domain.apikeys import create_api_key
from app.domain.text import fold
from app.messages import render
from app.models import (
    Appointment,
    AuditLog,
    Channel,
    Clinic,
    ClinicStaff,
    Message,
    MessageKind,
    OutreachReport,
    Redemption,
    ReferralCode,
    Service,
    Worker,
)
from tests.conftest import WEBHOOK_TOKEN
from tests.discretion import assert_discreet

API = "/api/v1"
SMS_WEBHOOK = "/webhooks/africastalking/sms"
USSD_WEBHOOK = "/webhooks/africastalking/ussd"
USSD_SERVICE_CODE = "*384*123#"
CLIENT = "+84912345678"
CLIENT_LOCAL = "0912345678"
NOON = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # Monday 23/11/2026, 12:00 in Hanoi: outside quiet hours
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # the same Monday, 14:00 in Hanoi
API_NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 2/3/2026, 10:00 in Hanoi
SMS_LANGUAGE = "vi-ascii"  # the default language of a phone


# ---------------------------------------------------------------- API keys


@dataclass
class Keys:
    admin: dict
    viewer: dict
    clinic: dict
    clinic_id: int
    other_clinic_id: int

    def of(self, role: str) -> dict:
        return getattr(self, role)


def bearer(plain: str) -> dict:
    return {"Authorization": f"Bearer {plain}"}


def make_keys(session: Session) -> Keys:
    """One key per role; the clinic key is bound to the demo clinic with a
    staff phone (offers VCT and MMT). Needs the demo data."""
    staff = session.exec(select(ClinicStaff)).first()
    assert staff is not None, "load the demo data first"
    other = session.exec(select(Clinic).where(Clinic.id != staff.clinic_id).order_by(Clinic.id)).first()
    headers = {}
    for role in ("admin", "viewer", "clinic"):
        _, plain = create_api_key(
            session, role=role, name=f"test {role}", clinic_id=staff.clinic_id if role == "clinic" else None
        )
        headers[role] = bearer(plain)
    session.commit()
    return Keys(headers["admin"], headers["viewer"], headers["clinic"], staff.clinic_id, other.id)


def issue_by_api(client, keys: Keys, **body) -> dict:
    """`POST /codes` with the admin key (service VCT unless given): the code."""
    body.setdefault("service", "VCT")
    r = client.post(f"{API}/codes", json=body, headers=keys.admin)
    assert r.status_code == 201, r.text
    return r.json()


# ---------------------------------------------------------------- the demo data and the database


def demo_worker(session: Session) -> Worker:
    return session.exec(select(Worker).where(Worker.phone == DEMO_WORKER_PHONE)).one()


def clinic_named(session: Session, display_name: str = "Phong kham Him Lam") -> Clinic:
    """The clinic whose display name is `display_name`, diacritics ignored
    (the demo's names carry them: `Phòng khám Him Lam`)."""
    [clinic] = [c for c in session.exec(select(Clinic)) if fold(c.display_name) == fold(display_name)]
    return clinic


def service_with_code(session: Session, code: str = "VCT") -> Service:
    return session.exec(select(Service).where(Service.code == code)).one()


def service_id(session: Session, code: str) -> int:
    return service_with_code(session, code).id


def count_rows(session: Session, model, *where) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def audits(session: Session, action: str) -> list[AuditLog]:
    return session.exec(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


def audit_actions(session: Session, entity: str) -> list[str]:
    """The actions audited on `entity` rows, oldest first."""
    session.expire_all()
    return [
        a.action
        for a in session.exec(select(AuditLog).where(AuditLog.entity == entity).order_by(AuditLog.id))
    ]


# ---------------------------------------------------------------- codes


def with_check(body: str) -> str:
    """`body` with its Damm check digit: a well-formed code."""
    return body + damm.calc_check_digit(body)


def unknown_code() -> str:
    """A well-formed code nobody holds, as it is shown (`0000-0013`)."""
    return code_text.format_code(with_check("0000001"))


def unused_code(session: Session) -> str:
    """A freshly drawn code that is not in the database."""
    while True:
        candidate = codes.generate_code(session)
        if session.exec(select(ReferralCode).where(ReferralCode.code == candidate)).first() is None:
            return candidate


def without_coupons(session: Session) -> None:
    """The demo's peer coupons switched off (every service gives none), for
    tests that follow codes one by one; coupons have their own tests."""
    for service in session.exec(select(Service)).all():
        service.peer_coupons = 0
        session.add(service)
    session.commit()


def issue_code(
    session: Session,
    settings,
    service: str = "VCT",
    client: str | None = CLIENT,
    *,
    clinic_id: int | None = None,
    worker: Worker | str | None = DEMO_WORKER_PHONE,
    channel: Channel = Channel.sms,
    actor: str | None = None,
    commit: bool = False,
) -> ReferralCode:
    """A code issued through the domain (`codes.issue_code`) for `client`.
    `worker`: a Worker, a worker's phone (the demo worker's by default), or
    None (a code issued by an API key)."""
    if isinstance(worker, str):
        worker = session.exec(select(Worker).where(Worker.phone == worker)).one()
    row = codes.issue_code(
        session,
        settings,
        service=service,
        worker=worker,
        client_phone=client,
        clinic_id=clinic_id,
        channel=channel,
        actor=actor or (audit.phone_actor(worker.phone) if worker else "test"),
    )
    if commit:
        session.commit()
    return row


def redeem_at(
    session: Session, settings, code: str, clinic_name: str = "Phong kham Him Lam", channel=Channel.sms
) -> Redemption:
    """`code` redeemed through the domain at the clinic named `clinic_name`."""
    return codes.redeem_code(
        session,
        settings,
        code,
        clinic=clinic_named(session, clinic_name),
        channel=channel,
        actor="phone:+84900000002",
    )


# ---------------------------------------------------------------- SMS through the webhook


def at_sms(**fields) -> dict[str, str]:
    """An incoming SMS as Africa's Talking posts it (form fields); a field
    given as None is left out."""
    body = {
        "from": CLIENT,
        "to": "8088",
        "text": "HELP",
        "date": "2026-11-23 12:00:00",
        "id": str(uuid.uuid4()),
        "linkId": "SampleLinkId123",
        "networkCode": "45204",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def send(client, text: str, phone: str = CLIENT, **fields):
    """`text` from `phone` through the SMS webhook, answered 200: the response."""
    response = client.post(
        f"{SMS_WEBHOOK}?token={WEBHOOK_TOKEN}", data=at_sms(text=text, **{"from": phone}, **fields)
    )
    assert response.status_code == 200, response.text
    return response


def sms(client, phone: str, text: str) -> list[str]:
    """Send `text` from `phone` through the webhook; the replies to it."""
    message_id = send(client, text, phone=phone).json()["message_id"]
    with session_of(client) as s:
        rows = s.exec(select(Message).where(Message.in_reply_to == message_id).order_by(Message.id))
        return [m.text for m in rows]


def reply(client, phone: str, text: str) -> str:
    """The one reply to `text` from `phone`."""
    replies = sms(client, phone, text)
    assert len(replies) == 1, replies
    return replies[0]


def sms_text(key: str, **values) -> str:
    """A catalogue text as an SMS to a phone of the default language."""
    return render(key, SMS_LANGUAGE, **values)


def messages(session: Session, **where) -> list[Message]:
    """The message log, oldest first, where each field equals its value."""
    session.expire_all()
    stmt = select(Message).order_by(Message.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(Message, name) == value)
    return list(session.exec(stmt).all())


def inbound(session: Session, **where) -> list[Message]:
    return messages(session, direction="in", **where)


def outbound(session: Session, **where) -> list[Message]:
    return messages(session, direction="out", **where)


# readers through a test client's own database, for tests that hold only the client


def session_of(client) -> Session:
    return Session(client.app.state.engine)


def count_in(client, model, *where) -> int:
    with session_of(client) as s:
        return count_rows(s, model, *where)


def last_code(client) -> ReferralCode | None:
    with session_of(client) as s:
        return s.exec(select(ReferralCode).order_by(ReferralCode.id.desc())).first()


def notifications_to(client, phone: str) -> list[Message]:
    with session_of(client) as s:
        return list(
            s.exec(
                select(Message)
                .where(Message.phone == phone, Message.kind == MessageKind.notification)
                .order_by(Message.id)
            )
        )


def code_state(client, code: ReferralCode) -> str:
    with session_of(client) as s:
        return s.get(ReferralCode, code.id).state


def snapshot(client) -> tuple:
    """The counts of codes, redemptions, appointments and reports, and the
    state of every code: what a refused SMS must leave as it was."""
    with session_of(client) as s:
        states = tuple(c.state for c in s.exec(select(ReferralCode).order_by(ReferralCode.id)))
    counted = tuple(count_in(client, m) for m in (ReferralCode, Redemption, Appointment, OutreachReport))
    return counted + (states,)


def issue_by_sms(client, text: str = f"REF VCT {CLIENT_LOCAL}") -> ReferralCode:
    """The demo worker texts `text` (a REF): the code it issued."""
    sms(client, DEMO_WORKER_PHONE, text)
    return last_code(client)


# ---------------------------------------------------------------- USSD through the webhook


def ussd_form(**overrides) -> dict:
    """A USSD step as Africa's Talking posts it (form fields); a field given
    as None is left out."""
    form = {
        "sessionId": "ATUid_1",
        "serviceCode": USSD_SERVICE_CODE,
        "phoneNumber": CLIENT,
        "text": "",
        "networkCode": "45204",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def ussd_post(client, form: dict, token: str | None = WEBHOOK_TOKEN):
    headers = {"X-Webhook-Token": token} if token else {}
    return client.post(USSD_WEBHOOK, data=form, headers=headers)


STAFF_PHONES = frozenset({DEMO_WORKER_PHONE, DEMO_CLINIC_PHONE})  # their screens may name services


def dial(client, phone: str, *answers: str, discreet: bool | None = None) -> str:
    """One step of a session whose answers so far are `answers`: the screen,
    checked by `assert_screen` (discreet unless `phone` is the demo worker's
    or desk's, or `discreet` says otherwise)."""
    r = ussd_post(client, ussd_form(sessionId="ATUid_test", phoneNumber=phone, text="*".join(answers)))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert_screen(r.text, discreet=phone not in STAFF_PHONES if discreet is None else discreet)
    return r.text


def assert_screen(text: str, discreet: bool = True) -> None:
    """What every USSD answer is: CON or END, at most 182 characters, plain
    ASCII; discreet on a client's screen (a worker's or desk's may show
    service codes such as PREP)."""
    assert text.startswith(("CON ", "END ")), text
    assert len(text) <= MAX_REPLY, (len(text), text)
    assert text.isascii(), text
    if discreet:
        assert_discreet(text)


def ussd_text(key: str, language: str = "vi-ascii", **values) -> str:
    """A catalogue text as a handset shows it on a USSD screen."""
    return to_ascii(render(key, ussd_language(language), **values))


def local_ddmm(days_ahead: int, settings, weekday: bool = False) -> str:
    """The day `days_ahead` from now, as a keypad types it (`2512`); with
    `weekday`, the first Monday to Friday from then (the demo clinics open)."""
    day = (clock.now() + timedelta(days=days_ahead)).astimezone(settings.tz)
    while weekday and day.weekday() >= 5:
        day += timedelta(days=1)
    return day.strftime("%d%m")
