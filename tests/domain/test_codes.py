"""Referral codes, the domain: parsing (unit and property tests), issuing,
redeeming once, voiding, expiry, the wrong-code throttle, worker figures and
appointment dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, func
from sqlmodel import select
from stdnum import damm

from app import clock
from app.config import load_settings
from app.demo import DEMO_WORKER_PHONE
from app.domain import appointments, clinics, code_text, codes, errors, guesses, outreach
from app.domain.errors import InvalidPhone
from app.models import (
    Appointment,
    AuditLog,
    Channel,
    Clinic,
    CodeState,
    Message,
    MessageKind,
    OutreachReport,
    Redemption,
    ReferralCode,
    Reminder,
    ReminderKind,
    ReminderStatus,
    Worker,
)
from tests.discretion import assert_discreet

CLIENT = "+84912345678"
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 14:00 in Hanoi


# ---------------------------------------------------------------- parsing (pure)

bodies = st.text(alphabet="0123456789", min_size=code_text.RANDOM_DIGITS, max_size=code_text.RANDOM_DIGITS)


def with_check(body: str) -> str:
    return body + damm.calc_check_digit(body)


@given(
    bodies,
    st.sampled_from(["", "CODE ", "code:", "MA ", "Mã ", "ma#", "  "]),
    st.sampled_from(["", " ", "-", ".", " - "]),
)
def test_a_valid_code_parses_in_any_typed_form(body, prefix, sep):
    code = with_check(body)
    typed = f"{prefix}{code[:4]}{sep}{code[4:]} "
    assert code_text.parse_code(typed) == code


@given(bodies)
def test_every_single_digit_error_is_rejected_without_the_database(body):
    code = with_check(body)
    for i in range(len(code)):
        for digit in "0123456789":
            if digit == code[i]:
                continue
            wrong = code[:i] + digit + code[i + 1 :]
            with pytest.raises(errors.MalformedCode):
                code_text.parse_code(wrong)


@given(bodies)
def test_every_adjacent_swap_is_rejected_without_the_database(body):
    code = with_check(body)
    for i in range(len(code) - 1):
        if code[i] == code[i + 1]:
            continue  # swapping equal digits gives the same code
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        with pytest.raises(errors.MalformedCode):
            code_text.parse_code(swapped)


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "4821-593",
        "4821-59330",
        "4821-593A",
        "ABCD-EFGH",
        "48215093",
        "CODE",
        "MAX 48215933",
        "+84912345678",
    ],
)
def test_letters_wrong_length_and_wrong_check_digit_are_malformed(typed):
    with pytest.raises(errors.MalformedCode):
        code_text.parse_code(typed)


def test_the_catalogue_example_code_can_never_be_issued():
    # 4821-5093 in the help texts fails its check digit: nobody owns it
    with pytest.raises(errors.MalformedCode):
        code_text.parse_code("4821-5093")


def test_format_code_groups_four_and_four():
    assert code_text.format_code("48215933") == "4821-5933"
    assert code_text.format_code("4821 59-33") == "4821-5933"


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
    him_lam = demo.exec(select(Clinic).where(Clinic.display_name == "Phong kham Him Lam")).one()
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


# ---------------------------------------------------------------- helpers


@pytest.fixture
def now(frozen_clock):
    frozen_clock(NOW)
    return NOW


def worker(session, phone=DEMO_WORKER_PHONE) -> Worker:
    return session.exec(select(Worker).where(Worker.phone == phone)).one()


def clinic(session, display_name) -> Clinic:
    return session.exec(select(Clinic).where(Clinic.display_name == display_name)).one()


def issue(session, settings, service="VCT", client=CLIENT, clinic_id=None, by=None) -> ReferralCode:
    return codes.issue_code(
        session,
        settings,
        service=service,
        worker=by or worker(session),
        client_phone=client,
        clinic_id=clinic_id,
        channel=Channel.sms,
        actor="phone:" + DEMO_WORKER_PHONE,
    )


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def audits(session, action):
    return session.exec(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


# ---------------------------------------------------------------- issue


def test_issue_stores_the_code_valid_through_the_local_day_and_tells_the_client(demo, settings, now):
    row = issue(demo, settings)
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
    him_lam = clinic(demo, "Phong kham Him Lam")
    row = issue(demo, settings, clinic_id=him_lam.id)
    sms = demo.exec(select(Message).where(Message.phone == CLIENT)).one()
    assert row.clinic_id == him_lam.id and "Phong kham Him Lam" in sms.text and him_lam.address in sms.text
    assert_discreet(sms.text)


def test_issue_without_a_client_phone_sends_nothing_and_schedules_no_nudge(demo, settings, now):
    row = issue(demo, settings, client=None)
    assert row.client_phone is None
    assert count(demo, Message) == 0 and count(demo, Reminder) == 0


def test_issue_to_an_opted_out_client_is_stored_but_the_sms_is_skipped(demo, settings, now):
    from app.domain.people import set_opt_out

    set_opt_out(demo, CLIENT, True)
    issue(demo, settings)
    sms = demo.exec(select(Message).where(Message.phone == CLIENT)).one()
    assert sms.status == "skipped" and sms.error == "opted_out"


def test_service_expiry_days_are_per_service(demo, settings, now):
    from app.models import Service

    sti = demo.exec(select(Service).where(Service.code == "STI")).one()
    sti.expiry_days = 7
    demo.add(sti)
    row = issue(demo, settings, service="sti")
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
    clinic_id = clinic(demo, kwargs.pop("clinic")).id if "clinic" in kwargs else None
    with pytest.raises(error):
        issue(demo, settings, clinic_id=clinic_id, **kwargs)
    assert count(demo, ReferralCode) == 0 and count(demo, Message) == 0 and count(demo, Reminder) == 0


def test_an_inactive_worker_cannot_issue(demo, settings, now):
    w = worker(demo)
    w.active = False
    with pytest.raises(errors.WorkerInactive):
        issue(demo, settings, by=w)


def test_a_colliding_code_is_drawn_again(demo, settings, now, monkeypatch):
    first = issue(demo, settings, client=None)
    draws = iter([int(first.code[:7]), int(first.code[:7]), 7654321])
    monkeypatch.setattr(code_text.secrets, "randbelow", lambda n: next(draws))
    second = issue(demo, settings, client=None)
    assert second.code == with_check("7654321")


def test_resolve_clinic_by_number_or_name_fragment(demo):
    him_lam = clinic(demo, "Phong kham Him Lam")
    assert clinics.resolve_clinic(demo, str(him_lam.id)).id == him_lam.id
    assert clinics.resolve_clinic(demo, "him lâm").id == him_lam.id
    with pytest.raises(errors.AmbiguousClinic):
        clinics.resolve_clinic(demo, "Phong kham")
    with pytest.raises(errors.UnknownClinic):
        clinics.resolve_clinic(demo, "Sapa")
    with pytest.raises(errors.UnknownClinic):
        clinics.resolve_clinic(demo, "9999")


# ---------------------------------------------------------------- redeem


def redeem(session, settings, code, clinic_name="Phong kham Him Lam", channel=Channel.sms):
    return codes.redeem_code(
        session,
        settings,
        code,
        clinic=clinic(session, clinic_name),
        channel=channel,
        actor="phone:+84900000002",
    )


def test_redeem_records_clinic_time_channel_and_tells_the_worker(demo, settings, now):
    row = issue(demo, settings)
    later = NOW + timedelta(days=2)
    clock.freeze(later)
    red = redeem(demo, settings, code_text.format_code(row.code), channel=Channel.ussd)
    demo.refresh(row)
    assert row.state == CodeState.redeemed
    assert red.clinic_id == clinic(demo, "Phong kham Him Lam").id
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
    row = issue(demo, settings, service="MMT")
    redeem(demo, settings, row.code)
    assert not demo.exec(select(Reminder).where(Reminder.kind == ReminderKind.retest)).all()


def test_second_redeem_of_a_code_is_refused(demo, settings, now):
    row = issue(demo, settings)
    redeem(demo, settings, row.code)
    with pytest.raises(errors.AlreadyRedeemed):
        redeem(demo, settings, row.code, clinic_name="Phong kham Muong Thanh")
    assert count(demo, Redemption) == 1
    assert [a.detail["outcome"] for a in audits(demo, "code.redeem")] == ["redeemed", "already_redeemed"]


def test_the_redemption_time_and_clinic_count_in_the_statistics_of_the_redeeming_clinic(demo, settings, now):
    from app.domain import stats

    referred_to = clinic(demo, "Phong kham Muong Thanh")
    row = issue(demo, settings, clinic_id=referred_to.id)
    later = NOW + timedelta(days=3)
    clock.freeze(later)
    redeem(demo, settings, row.code)  # at Him Lam, not where it was referred
    him_lam = clinic(demo, "Phong kham Him Lam")
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
    row = issue(demo, settings)
    other = clinic(demo, "Phong kham Muong Thanh")
    demo.add(Redemption(code_id=row.id, clinic_id=other.id, redeemed_at=NOW, channel="api"))
    demo.flush()
    with pytest.raises(errors.AlreadyRedeemed):
        redeem(demo, settings, row.code)
    demo.refresh(row)
    assert (row.state, row.redeemed_at, row.redeemed_clinic_id) == (CodeState.issued, None, None)
    assert count(demo, Redemption) == 1
    assert audits(demo, "code.redeem")[-1].detail["outcome"] == "already_redeemed"
    assert not demo.exec(select(Message).where(Message.phone == DEMO_WORKER_PHONE)).all()  # not told


def test_a_later_sqlite_migration_can_rebuild_the_code_table(tmp_path):
    # batch migrations on SQLite drop and rename the table; nothing in the
    # schema (a trigger, say) may name referral_code from elsewhere
    import sqlalchemy as sa
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from app.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'rebuild.db'}"
    upgrade(url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            with Operations(MigrationContext.configure(conn)).batch_alter_table(
                "referral_code", recreate="always"
            ) as batch:
                batch.add_column(sa.Column("note", sa.String(10)))
            assert "note" in {c["name"] for c in sa.inspect(conn).get_columns("referral_code")}
    finally:
        engine.dispose()


def test_a_code_past_expiry_is_never_redeemable_even_before_it_is_marked(demo, settings, now):
    row = issue(demo, settings)
    clock.freeze(row.expires_at)
    with pytest.raises(errors.CodeExpired):
        redeem(demo, settings, row.code)
    with pytest.raises(errors.CodeExpired):
        codes.code_status(demo, row.code)
    demo.refresh(row)
    assert row.state == CodeState.issued and count(demo, Redemption) == 0
    clock.freeze(row.expires_at - timedelta(seconds=1))
    assert codes.code_status(demo, row.code).id == row.id


def test_expire_due_codes_marks_only_codes_past_expiry(demo, settings, now):
    old = issue(demo, settings, client=None)
    clock.freeze(NOW + timedelta(days=20))
    fresh = issue(demo, settings, client=None)
    clock.freeze(old.expires_at + timedelta(seconds=1))
    assert codes.expire_due_codes(demo) == 1
    demo.refresh(old)
    demo.refresh(fresh)
    assert old.state == CodeState.expired and fresh.state == CodeState.issued


def test_each_refusal_has_its_own_error_and_is_audited(demo, settings, now):
    used = issue(demo, settings)
    redeem(demo, settings, used.code)
    voided = issue(demo, settings)
    codes.void_code(demo, voided.code, worker=worker(demo), actor="phone:" + DEMO_WORKER_PHONE)
    mmt = issue(demo, settings, service="MMT")
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
            redeem(demo, settings, code, clinic_name)
        assert caught.value.key == f"codes.{outcome}" or outcome == "already_redeemed"
        assert audits(demo, "code.redeem")[-1].detail["outcome"] == outcome
    demo.refresh(mmt)
    assert mmt.state == CodeState.issued


# ---------------------------------------------------------------- void


def test_only_the_issuing_worker_voids_and_only_an_open_code(demo, settings, now):
    row = issue(demo, settings)
    other = Worker(name="Other", phone="+84900000011")
    demo.add(other)
    demo.flush()
    with pytest.raises(errors.NotIssuer):
        codes.void_code(demo, row.code, worker=other, actor="phone:+84900000011")
    voided = codes.void_code(demo, row.code, worker=worker(demo), actor="x")
    assert voided.state == CodeState.voided and voided.voided_at == NOW
    nudge = demo.exec(select(Reminder).where(Reminder.code_id == row.id)).one()
    assert nudge.status == ReminderStatus.cancelled
    with pytest.raises(errors.CodeVoided):
        codes.void_code(demo, row.code, worker=worker(demo), actor="x")
    used = issue(demo, settings)
    redeem(demo, settings, used.code)
    with pytest.raises(errors.AlreadyRedeemed):
        codes.void_code(demo, used.code, worker=None, actor="admin")


# ---------------------------------------------------------------- throttle


def test_too_many_wrong_codes_get_one_notice_then_silence(demo, settings, now):
    phone = "+84987654321"
    actor = "phone:" + phone
    for i in range(settings.wrong_code_limit_per_hour):
        guesses.check_wrong_code_throttle(demo, settings, phone)
        with pytest.raises((errors.UnknownCode, errors.MalformedCode)):
            codes.code_status(demo, with_check(f"{i:07d}") if i % 2 else "12", actor=actor)
    with pytest.raises(errors.Throttled) as first:
        guesses.check_wrong_code_throttle(demo, settings, phone)
    with pytest.raises(errors.Throttled) as second:
        guesses.check_wrong_code_throttle(demo, settings, phone)
    assert first.value.values["notify"] is True and second.value.values["notify"] is False
    guesses.check_wrong_code_throttle(demo, settings, "+84987654322")  # another phone is not affected
    clock.freeze(NOW + timedelta(hours=1, seconds=1))
    guesses.check_wrong_code_throttle(demo, settings, phone)  # the hour has passed


def test_the_limit_comes_from_settings_and_valid_look_ups_do_not_count(demo, database_url, now):
    settings = load_settings(
        _env_file=None, DATABASE_URL=database_url, WRONG_CODE_LIMIT_PER_HOUR=2, APP_ENV="test"
    )
    row = issue(demo, settings)
    actor = "phone:+84987654321"
    for _ in range(5):
        codes.code_status(demo, row.code, actor=actor)
    guesses.check_wrong_code_throttle(demo, settings, "+84987654321")
    for _ in range(2):
        with pytest.raises(errors.MalformedCode):
            codes.code_status(demo, "1", actor=actor)
    with pytest.raises(errors.Throttled):
        guesses.check_wrong_code_throttle(demo, settings, "+84987654321")


# ---------------------------------------------------------------- worker figures


def test_reach_twice_a_day_replaces_and_stats_count_this_month(demo, settings, now):
    w = worker(demo)
    outreach.record_outreach(demo, w, 10, 20, date(2026, 11, 23))
    outreach.record_outreach(demo, w, 12, 30, date(2026, 11, 23))
    outreach.record_outreach(demo, w, 5, 0, date(2026, 11, 2))
    outreach.record_outreach(demo, w, 99, 99, date(2026, 10, 31))
    assert count(demo, OutreachReport) == 3
    with pytest.raises(outreach.InvalidCount):
        outreach.record_outreach(demo, w, -1, 0, date(2026, 11, 23))
    a, b = issue(demo, settings), issue(demo, settings)
    redeem(demo, settings, a.code)
    clock.freeze(datetime(2026, 10, 31, 16, 0, tzinfo=UTC))  # 31/10 23:00 local: last month
    issue(demo, settings)
    stats = outreach.worker_month_stats(demo, w, date(2026, 11, 23), tz=settings.tz)
    assert (stats.month, stats.issued, stats.redeemed, stats.people_reached, stats.condoms) == (
        "11/2026",
        2,
        1,
        17,
        30,
    )
    assert b.state == CodeState.issued


# ---------------------------------------------------------------- appointment dates


@pytest.mark.parametrize(
    "typed, local",
    [
        ("25/12", datetime(2026, 12, 25, 8, 0)),
        ("25/12/2026", datetime(2026, 12, 25, 8, 0)),
        ("25-12 14h", datetime(2026, 12, 25, 14, 0)),
        ("25/12 9:30", datetime(2026, 12, 25, 9, 30)),
        ("25.12.26 14h30", datetime(2026, 12, 25, 14, 30)),
        ("5/1", datetime(2027, 1, 5, 8, 0)),  # around New Year: next year's
        ("23/11 15:00", datetime(2026, 11, 23, 15, 0)),  # later today
    ],
)
def test_appointment_dates_in_the_program_time_zone(settings, now, typed, local):
    at = appointments.parse_appointment_datetime(typed, settings, NOW)
    assert at == local.replace(tzinfo=settings.tz).astimezone(UTC)


@pytest.mark.parametrize(
    "typed, error",
    [
        ("31/02", appointments.InvalidDate),
        ("31/02/2027", appointments.InvalidDate),
        ("29/02/2027", appointments.InvalidDate),
        ("25/13", appointments.InvalidDate),
        ("25/12 25h", appointments.InvalidDate),
        ("25/12 14:75", appointments.InvalidDate),
        ("tomorrow", appointments.InvalidDate),
        ("", appointments.InvalidDate),
        ("01/01/2026", appointments.PastDate),
        ("20/11", appointments.PastDate),  # three days ago, not next year
        ("23/11 13:00", appointments.PastDate),  # earlier today
        ("23/11", appointments.PastDate),  # today, default 08:00 is gone
        ("25/12/2099", appointments.DateTooFar),
    ],
)
def test_impossible_past_and_far_dates_are_refused(settings, now, typed, error):
    with pytest.raises(error):
        appointments.parse_appointment_datetime(typed, settings, NOW)


def test_booking_schedules_reminders_tells_the_client_and_replaces_an_earlier_booking(demo, settings, now):
    row = issue(demo, settings)
    him_lam = clinic(demo, "Phong kham Him Lam")
    first_at = appointments.parse_appointment_datetime("25/12 14h", settings, NOW)
    first = appointments.book_appointment(
        demo, settings, row.code, first_at, clinic=him_lam, actor="phone:+84900000002"
    )
    assert first.client_phone == CLIENT and first.starts_at == datetime(2026, 12, 25, 7, 0, tzinfo=UTC)
    kinds = {r.kind for r in demo.exec(select(Reminder).where(Reminder.appointment_id == first.id))}
    assert kinds == {ReminderKind.appointment_day_before, ReminderKind.appointment_soon}
    confirmation = demo.exec(
        select(Message).where(Message.phone == CLIENT).order_by(Message.id.desc())
    ).first()
    assert "25/12/2026" in confirmation.text and "14:00" in confirmation.text
    assert_discreet(confirmation.text)
    second_at = appointments.parse_appointment_datetime("27/12 9h", settings, NOW)
    second = appointments.book_appointment(demo, settings, row.code, second_at, clinic=him_lam, actor="x")
    demo.refresh(first)
    assert first.status == "cancelled" and second.status == "booked"
    assert appointments.next_appointment(demo, CLIENT).id == second.id
    assert all(
        r.status == ReminderStatus.cancelled
        for r in demo.exec(select(Reminder).where(Reminder.appointment_id == first.id))
    )


def test_booking_refuses_a_code_without_client_or_at_a_clinic_without_the_service(demo, settings, now):
    at = NOW + timedelta(days=3)
    no_client = issue(demo, settings, client=None)
    with pytest.raises(appointments.NoClientPhone):
        appointments.book_appointment(
            demo, settings, no_client.code, at, clinic=clinic(demo, "Phong kham Him Lam"), actor="x"
        )
    row = issue(demo, settings)
    with pytest.raises(errors.NotOffered):
        appointments.book_appointment(
            demo, settings, row.code, at, clinic=clinic(demo, "Phong kham Long Bien"), actor="x"
        )
    assert count(demo, Appointment) == 0
