"""Referral codes, the domain (`app.domain.codes`, issuing in
`app.domain.issuing`): drawing, issuing (one valid code per client and
service: resent, or replaced on request), redeeming once, voiding, expiry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select
from stdnum import damm

from app import clock
from app.demo import DEMO_WORKER_PHONE
from app.domain import code_text, codes, errors
from app.domain.errors import InvalidPhone
from app.domain.text import strip_diacritics
from app.models import (
    Channel,
    CodeState,
    Message,
    MessageKind,
    Redemption,
    ReferralCode,
    Reminder,
    ReminderKind,
    ReminderStatus,
    Worker,
)
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    NOW,
    audits,
    clinic_named,
    count_rows,
    demo_worker,
    issue_code,
    redeem_at,
    service_with_code,
    with_check,
    without_coupons,
)

# ---------------------------------------------------------------- drawing


def test_generated_codes_are_valid_and_from_secrets(demo, monkeypatch):
    seen = set()
    for _ in range(200):
        code = codes.generate_code(demo)
        assert len(code) == code_text.CODE_LENGTH and damm.is_valid(code)
        seen.add(code)
    assert len(seen) > 190
    drawn = []
    monkeypatch.setattr(code_text.secrets, "randbelow", lambda n: drawn.append(n) or 1234567)
    assert codes.generate_code(demo) == with_check("1234567")
    assert drawn == [10**7]


def test_a_malformed_code_reaches_no_database(demo, db, settings):
    him_lam = clinic_named(demo)
    statements = []

    def count(*args):
        statements.append(args[2])

    event.listen(db, "before_cursor_execute", count)
    try:
        for typed in ("4821-5093", "4821-593", "48A1-5933"):
            with pytest.raises(errors.MalformedCode):
                codes.code_status(demo, typed, actor="phone:+84900000009")
            with pytest.raises(errors.MalformedCode):
                codes.get_code(demo, typed)
            with pytest.raises(errors.MalformedCode):
                codes.redeem_code(
                    demo, settings, typed, clinic=him_lam, channel=Channel.sms, actor="phone:+849"
                )
    finally:
        event.remove(db, "before_cursor_execute", count)
    assert statements == []


# ---------------------------------------------------------------- issue


def test_issue_stores_the_code_valid_through_the_local_day_and_tells_the_client(demo, settings, now):
    row = issue_code(demo, settings)
    assert row.state == CodeState.issued and row.client_phone == CLIENT and row.channel == Channel.sms
    # issued 23/11 14:00 local, 30 days: valid through 23/12 (last second, local)
    assert code_text.local_valid_until(row, settings.tz) == date(2026, 12, 23)
    assert row.expires_at == datetime(2026, 12, 23, 16, 59, 59, tzinfo=UTC)
    sms = demo.exec(select(Message).where(Message.phone == CLIENT)).one()
    assert sms.kind == MessageKind.notification and sms.status == "queued"
    assert code_text.format_code(row.code) in sms.text and "23/12/2026" in sms.text
    assert "Tu van suc khoe" in sms.text and "VCT" not in sms.text
    assert_discreet(sms.text)
    nudge = demo.exec(select(Reminder).where(Reminder.code_id == row.id)).one()
    assert nudge.kind == ReminderKind.code_expiry and nudge.phone == CLIENT
    assert audits(demo, "code.issue")[0].entity_id == str(row.id)


def test_issue_for_a_clinic_names_the_clinic_to_the_client(demo, settings, now):
    him_lam = clinic_named(demo, "Phong kham Him Lam")
    row = issue_code(demo, settings, clinic_id=him_lam.id)
    sms = demo.exec(select(Message).where(Message.phone == CLIENT)).one()
    assert row.clinic_id == him_lam.id and "Phong kham Him Lam" in sms.text and him_lam.address in sms.text
    assert_discreet(sms.text)


def test_issue_without_a_client_phone_sends_nothing_and_schedules_no_nudge(demo, settings, now):
    row = issue_code(demo, settings, client=None)
    assert row.client_phone is None
    assert count_rows(demo, Message) == 0 and count_rows(demo, Reminder) == 0


def test_issue_to_an_opted_out_client_is_stored_but_the_sms_is_skipped(demo, settings, now):
    from app.domain.people import set_opt_out

    set_opt_out(demo, CLIENT, True)
    issue_code(demo, settings)
    sms = demo.exec(select(Message).where(Message.phone == CLIENT)).one()
    assert sms.status == "skipped" and sms.error == "opted_out"


def test_service_expiry_days_are_per_service(demo, settings, now):
    sti = service_with_code(demo, "STI")
    sti.expiry_days = 7
    demo.add(sti)
    row = issue_code(demo, settings, service="sti")
    assert code_text.local_valid_until(row, settings.tz) == date(2026, 11, 30)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"service": "XYZ"}, errors.UnknownService),
        ({"client": "12345"}, InvalidPhone),
        ({"clinic": "Phong kham Long Bien"}, errors.NotOffered),  # MMT and STI only
    ],
)
def test_bad_issue_input_issues_nothing(demo, settings, now, kwargs, error):
    kwargs = dict(kwargs)
    clinic_id = clinic_named(demo, kwargs.pop("clinic")).id if "clinic" in kwargs else None
    with pytest.raises(error):
        issue_code(demo, settings, clinic_id=clinic_id, **kwargs)
    assert (
        count_rows(demo, ReferralCode) == 0
        and count_rows(demo, Message) == 0
        and count_rows(demo, Reminder) == 0
    )


def test_an_inactive_worker_cannot_issue(demo, settings, now):
    w = demo_worker(demo)
    w.active = False
    with pytest.raises(errors.WorkerInactive):
        issue_code(demo, settings, worker=w)


def test_a_colliding_code_is_drawn_again(demo, settings, now, monkeypatch):
    first = issue_code(demo, settings, client=None)
    draws = iter([int(first.code[:7]), int(first.code[:7]), 7654321])
    monkeypatch.setattr(code_text.secrets, "randbelow", lambda n: next(draws))
    second = issue_code(demo, settings, client=None)
    assert second.code == with_check("7654321")


# ---------------------------------------------------------------- one valid code per client and service


def _refer(session, settings, **kwargs):
    values = dict(
        service="VCT",
        worker=demo_worker(session),
        client_phone=CLIENT,
        clinic_id=None,
        channel=Channel.api,
        actor="test",
    )
    values.update(kwargs)
    return codes.refer(session, settings, **values)


def test_a_clients_valid_code_is_resent_by_any_worker_on_any_channel(demo, settings, now):
    first = _refer(demo, settings)
    assert not first.resent and first.replaced == ()
    other = Worker(name="Other", phone="+84900000011")
    demo.add(other)
    demo.flush()
    again = _refer(demo, settings, worker=other, client_phone="0912 345 678", channel=Channel.ussd)
    assert again.resent and again.code.id == first.code.id
    assert again.code.worker_id == demo_worker(demo).id and again.code.channel == Channel.api
    assert count_rows(demo, ReferralCode) == 1
    texts = [m.text for m in demo.exec(select(Message).where(Message.phone == CLIENT).order_by(Message.id))]
    assert len(texts) == 2 and texts[0] == texts[1]
    [resend] = audits(demo, "code.resend")
    assert resend.entity_id == str(first.code.id) and resend.detail["worker_id"] == other.id
    # issue_code, for callers that only want the code, follows the same rule
    assert issue_code(demo, settings).id == first.code.id


def test_a_resend_names_the_clinic_of_the_code_not_a_new_one(demo, settings, now):
    him_lam = clinic_named(demo)
    _refer(demo, settings, clinic_id=him_lam.id)
    again = _refer(demo, settings, clinic_id=None)
    assert again.resent and again.code.clinic_id == him_lam.id
    last = demo.exec(select(Message).where(Message.phone == CLIENT).order_by(Message.id.desc())).first()
    assert strip_diacritics(him_lam.display_name) in last.text  # the vi-ascii SMS is folded


def test_new_voids_every_valid_code_of_the_pair_and_issues_one(demo, settings, now):
    old = _refer(demo, settings).code
    fresh = _refer(demo, settings, new=True)
    assert not fresh.resent and fresh.replaced == (old,) and fresh.code.id != old.id
    demo.refresh(old)
    assert old.state == CodeState.voided and old.voided_at == NOW
    nudges = demo.exec(select(Reminder).where(Reminder.code_id == old.id)).all()
    assert [n.status for n in nudges] == [ReminderStatus.cancelled]
    [issue] = [a for a in audits(demo, "code.issue") if a.entity_id == str(fresh.code.id)]
    assert issue.detail["replaces"] == [old.id]
    assert _refer(demo, settings).code.id == fresh.code.id


def test_a_new_code_when_the_old_one_is_used_expired_or_for_another_service(demo, settings, now):
    used = _refer(demo, settings).code
    redeem_at(demo, settings, used.code)
    second = _refer(demo, settings)
    assert not second.resent and second.code.id != used.id
    clock.freeze(now + timedelta(days=31))  # past expiry, not yet marked expired
    third = _refer(demo, settings)
    assert not third.resent and third.code.id != second.code.id
    assert not _refer(demo, settings, service="MMT").resent
    # without a client phone there is no pair: always a new code
    assert not _refer(demo, settings, client_phone=None).resent
    assert not _refer(demo, settings, client_phone=None).resent


def test_a_refused_request_resends_nothing(demo, settings, now):
    _refer(demo, settings)
    with pytest.raises(errors.NotOffered):
        _refer(demo, settings, clinic_id=clinic_named(demo).id, service="STI")
    w = demo_worker(demo)
    w.active = False
    with pytest.raises(errors.WorkerInactive):
        _refer(demo, settings, worker=w)
    assert audits(demo, "code.resend") == []


# ---------------------------------------------------------------- redeem


def test_redeem_records_clinic_time_channel_and_tells_the_worker(demo, settings, now):
    row = issue_code(demo, settings)
    later = NOW + timedelta(days=2)
    clock.freeze(later)
    red = redeem_at(demo, settings, code_text.format_code(row.code), channel=Channel.ussd)
    demo.refresh(row)
    assert row.state == CodeState.redeemed
    assert red.clinic_id == clinic_named(demo, "Phong kham Him Lam").id
    assert red.redeemed_at == later and red.channel == Channel.ussd and red.actor == "phone:+84900000002"
    told = demo.exec(select(Message).where(Message.phone == DEMO_WORKER_PHONE)).one()
    assert told.kind == MessageKind.notification
    assert code_text.format_code(row.code) in told.text and "Phong kham Him Lam" in told.text
    assert CLIENT not in told.text and CLIENT[3:] not in told.text
    reminders = {r.kind: r.status for r in demo.exec(select(Reminder).where(Reminder.code_id == row.id))}
    assert reminders[ReminderKind.code_expiry] == ReminderStatus.cancelled
    assert reminders[ReminderKind.retest] == ReminderStatus.pending  # VCT: the re-test reminder
    [entry] = audits(demo, "code.redeem")
    assert entry.detail["outcome"] == "redeemed" and entry.actor == "phone:+84900000002"


def test_a_non_vct_redemption_schedules_no_retest(demo, settings, now):
    row = issue_code(demo, settings, service="MMT")
    redeem_at(demo, settings, row.code)
    assert not demo.exec(select(Reminder).where(Reminder.kind == ReminderKind.retest)).all()


def test_second_redeem_of_a_code_is_refused(demo, settings, now):
    row = issue_code(demo, settings)
    redeem_at(demo, settings, row.code)
    with pytest.raises(errors.AlreadyRedeemed):
        redeem_at(demo, settings, row.code, clinic_name="Phong kham Muong Thanh")
    assert count_rows(demo, Redemption) == 1
    assert [a.detail["outcome"] for a in audits(demo, "code.redeem")] == ["redeemed", "already_redeemed"]


def test_the_redemption_time_and_clinic_count_in_the_statistics_of_the_redeeming_clinic(demo, settings, now):
    from app.domain import stats

    without_coupons(demo)  # one code, one group
    referred_to = clinic_named(demo, "Phong kham Muong Thanh")
    row = issue_code(demo, settings, clinic_id=referred_to.id)
    later = NOW + timedelta(days=3)
    clock.freeze(later)
    redeem_at(demo, settings, row.code)  # at Him Lam, not where it was referred
    him_lam = clinic_named(demo, "Phong kham Him Lam")
    demo.refresh(row)
    assert (row.redeemed_at, row.redeemed_clinic_id) == (later, him_lam.id)
    groups, _ = stats.redemption_stats(
        demo, group_by="clinic", date_from=None, date_to=None, tz=settings.tz, limit=10, offset=0
    )
    [group] = groups
    assert (group.key, group.issued, group.redeemed) == (str(him_lam.id), 1, 1)
    assert group.median_days_to_redeem == pytest.approx(3.0)


def test_a_redemption_refused_by_the_last_guard_leaves_the_code_as_it_was(demo, settings, now):
    # a redemption row already there for a code still `issued` (a repair by
    # hand, say): the unique code_id refuses the second one, and the code's
    # own UPDATE is rolled back with it
    row = issue_code(demo, settings)
    other = clinic_named(demo, "Phong kham Muong Thanh")
    demo.add(Redemption(code_id=row.id, clinic_id=other.id, redeemed_at=NOW, channel="api"))
    demo.flush()
    with pytest.raises(errors.AlreadyRedeemed):
        redeem_at(demo, settings, row.code)
    demo.refresh(row)
    assert (row.state, row.redeemed_at, row.redeemed_clinic_id) == (CodeState.issued, None, None)
    assert count_rows(demo, Redemption) == 1
    assert audits(demo, "code.redeem")[-1].detail["outcome"] == "already_redeemed"
    assert not demo.exec(select(Message).where(Message.phone == DEMO_WORKER_PHONE)).all()  # not told


def test_a_code_past_expiry_is_never_redeemable_even_before_it_is_marked(demo, settings, now):
    row = issue_code(demo, settings)
    clock.freeze(row.expires_at)
    with pytest.raises(errors.CodeExpired):
        redeem_at(demo, settings, row.code)
    with pytest.raises(errors.CodeExpired):
        codes.code_status(demo, row.code)
    demo.refresh(row)
    assert row.state == CodeState.issued and count_rows(demo, Redemption) == 0
    clock.freeze(row.expires_at - timedelta(seconds=1))
    assert codes.code_status(demo, row.code).id == row.id


def test_expire_due_codes_marks_only_codes_past_expiry(demo, settings, now):
    old = issue_code(demo, settings, client=None)
    clock.freeze(NOW + timedelta(days=20))
    fresh = issue_code(demo, settings, client=None)
    clock.freeze(old.expires_at + timedelta(seconds=1))
    assert codes.expire_due_codes(demo) == 1
    demo.refresh(old)
    demo.refresh(fresh)
    assert old.state == CodeState.expired and fresh.state == CodeState.issued


def test_each_refusal_has_its_own_error_and_is_audited(demo, settings, now):
    used = issue_code(demo, settings)
    redeem_at(demo, settings, used.code)
    voided = issue_code(demo, settings)
    codes.void_code(demo, voided.code, worker=demo_worker(demo), actor="phone:" + DEMO_WORKER_PHONE)
    mmt = issue_code(demo, settings, service="MMT")
    unknown = with_check("0000001")
    cases = [
        (used.code, "Phong kham Him Lam", errors.AlreadyRedeemed, "already_redeemed"),
        (voided.code, "Phong kham Him Lam", errors.CodeVoided, "voided"),
        (unknown, "Phong kham Him Lam", errors.UnknownCode, "unknown"),
        ("1234", "Phong kham Him Lam", errors.MalformedCode, "malformed"),
        (mmt.code, "Phong kham Muong Thanh", errors.NotOffered, "not_offered"),
    ]
    for code, clinic_name, error, outcome in cases:
        with pytest.raises(error) as caught:
            redeem_at(demo, settings, code, clinic_name)
        assert caught.value.key == f"codes.{outcome}" or outcome == "already_redeemed"
        assert audits(demo, "code.redeem")[-1].detail["outcome"] == outcome
    demo.refresh(mmt)
    assert mmt.state == CodeState.issued


# ---------------------------------------------------------------- void


def test_only_the_issuing_worker_voids_and_only_an_open_code(demo, settings, now):
    row = issue_code(demo, settings)
    other = Worker(name="Other", phone="+84900000011")
    demo.add(other)
    demo.flush()
    with pytest.raises(errors.UnknownCode):  # another worker's code: as if it did not exist
        codes.void_code(demo, row.code, worker=other, actor="phone:+84900000011")
    voided = codes.void_code(demo, row.code, worker=demo_worker(demo), actor="x")
    assert voided.state == CodeState.voided and voided.voided_at == NOW
    nudge = demo.exec(select(Reminder).where(Reminder.code_id == row.id)).one()
    assert nudge.status == ReminderStatus.cancelled
    with pytest.raises(errors.CodeVoided):
        codes.void_code(demo, row.code, worker=demo_worker(demo), actor="x")
    used = issue_code(demo, settings)
    redeem_at(demo, settings, used.code)
    with pytest.raises(errors.AlreadyRedeemed):
        codes.void_code(demo, used.code, worker=None, actor="admin")
