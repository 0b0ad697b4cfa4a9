"""The USSD screens of outreach workers (`app.channels.ussd.worker`) through
the webhook: issue a code, with or without a client phone (a client's valid
code for the service is resent instead), services shown with their codes,
the SMS copy of the code to the worker, and the month's figures."""

from __future__ import annotations

from sqlmodel import select

from app.demo import DEMO_WORKER_PHONE
from app.domain import code_text, people
from app.domain.phones import mask_phone
from app.models import Channel, MessageKind, MessageStatus, ReferralCode, Service
from tests.conftest import SettledClient
from tests.discretion import assert_discreet
from tests.factories import (
    CLIENT,
    CLIENT_LOCAL,
    assert_screen,
    dial,
    issue_code,
    outbound,
    sms_text,
    ussd_text,
)


def test_the_clients_sms_after_a_ussd_issue_goes_without_waiting_for_the_tick(db, database_url, demo):
    """The dispatcher runs in the process but ticks once an hour: the client's
    code goes out because the USSD step's commit hands it over, not because
    a tick found it."""
    from app.main import create_app
    from app.sending.gateways.memory import MemoryGateway
    from tests.conftest import make_settings

    gateway = MemoryGateway()
    settings = make_settings(database_url, DISPATCH_IN_PROCESS=True, DISPATCH_INTERVAL_SECONDS=3600)
    with SettledClient(create_app(settings, gateway=gateway, engine=db)) as c:
        c.app.state.dispatcher.wait_idle()
        assert gateway.sent == []
        done = dial(c, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
        [row] = demo.exec(select(ReferralCode)).all()
        assert done.startswith("END ") and code_text.format_code(row.code) in done
        [text] = gateway.to(CLIENT)
        assert code_text.format_code(row.code) in text
        [sms] = outbound(demo, phone=CLIENT)
        assert sms.status == MessageStatus.sent


def test_worker_issues_a_code_for_a_client_by_ussd(client, demo):
    menu = dial(client, DEMO_WORKER_PHONE)
    assert ussd_text("ussd.opt_issue") in menu
    services = dial(client, DEMO_WORKER_PHONE, "1")
    # the code a worker types by SMS beside the neutral name
    assert "1 VCT Tu van suc khoe\n" in services and "4 PREP Cham soc du phong\n" in services
    assert dial(client, DEMO_WORKER_PHONE, "1", "1").startswith("CON " + ussd_text("ussd.enter_client_phone"))
    confirm = dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL)
    assert confirm.startswith("CON ") and CLIENT in confirm and "VCT Tu van suc khoe" in confirm
    assert demo.exec(select(ReferralCode)).first() is None  # nothing before the confirmation

    done = dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
    [row] = demo.exec(select(ReferralCode)).all()
    assert row.channel == Channel.ussd and row.client_phone == CLIENT
    assert done.startswith("END ") and code_text.format_code(row.code) in done
    [sms] = outbound(demo, phone=CLIENT)
    assert code_text.format_code(row.code) in sms.text and sms.status == MessageStatus.sent
    assert_discreet(sms.text)  # the client's SMS keeps the neutral name

    # the same path replayed further issues nothing more, and sends nothing more
    dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1", "1")
    demo.expire_all()
    assert len(demo.exec(select(ReferralCode)).all()) == 1
    assert len(outbound(demo, phone=CLIENT)) == 1 and len(outbound(demo, phone=DEMO_WORKER_PHONE)) == 1


def _values(row, settings, **more) -> dict:
    until = row.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y")
    return dict(code=code_text.format_code(row.code), service="VCT", until=until, **more)


def test_the_worker_gets_the_code_issued_by_ussd_by_sms_too(client, demo, settings):
    """The screen vanishes: the code comes again by SMS, in the words of the
    SMS REF reply."""
    dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
    [row] = demo.exec(select(ReferralCode)).all()
    [copy] = outbound(demo, phone=DEMO_WORKER_PHONE)
    assert copy.text == sms_text("codes.issued_sent", **_values(row, settings, phone=mask_phone(CLIENT)))
    assert copy.kind == MessageKind.notification and copy.status == MessageStatus.sent
    # without a client phone
    dial(client, DEMO_WORKER_PHONE, "1", "1", "0", "1")
    none = demo.exec(select(ReferralCode).where(ReferralCode.client_phone.is_(None))).one()
    assert outbound(demo, phone=DEMO_WORKER_PHONE)[-1].text == sms_text(
        "codes.issued", **_values(none, settings)
    )


def test_the_sms_copy_says_what_the_sms_reply_says_for_a_resent_code_or_a_client_who_stopped(
    client, demo, settings
):
    first = issue_code(demo, settings, commit=True)
    dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
    resent = outbound(demo, phone=DEMO_WORKER_PHONE)[-1]
    assert resent.text == sms_text("codes.resent_sent", **_values(first, settings, phone=mask_phone(CLIENT)))
    people.set_opt_out(demo, CLIENT, True)
    demo.commit()
    dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
    stopped = outbound(demo, phone=DEMO_WORKER_PHONE)[-1]
    assert stopped.text == sms_text(
        "codes.resent_not_sent", **_values(first, settings, phone=mask_phone(CLIENT))
    )


def test_a_worker_who_sent_stop_still_gets_the_sms_copy_of_the_code(client, demo, settings):
    people.set_opt_out(demo, DEMO_WORKER_PHONE, True)
    demo.commit()
    dial(client, DEMO_WORKER_PHONE, "1", "1", "0", "1")
    [row] = demo.exec(select(ReferralCode)).all()
    [copy] = outbound(demo, phone=DEMO_WORKER_PHONE)
    assert copy.status == MessageStatus.sent and code_text.format_code(row.code) in copy.text


def test_worker_issues_a_code_without_a_client_phone(client, demo):
    confirm = dial(client, DEMO_WORKER_PHONE, "1", "1", "0")
    assert confirm.startswith("CON " + ussd_text("ussd.confirm_issue", service="VCT Tu van suc khoe"))
    done = dial(client, DEMO_WORKER_PHONE, "1", "1", "0", "1")
    [row] = demo.exec(select(ReferralCode)).all()
    assert row.client_phone is None and row.channel == Channel.ussd
    assert done.startswith("END ") and code_text.format_code(row.code) in done


def test_issuing_to_a_client_who_stopped_messages_tells_the_worker_to_hand_it_over(client, demo, settings):
    people.set_opt_out(demo, CLIENT, True)
    demo.commit()
    done = dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
    [row] = demo.exec(select(ReferralCode)).all()
    until = row.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y")
    values = dict(code=code_text.format_code(row.code), service="VCT Tu van suc khoe", until=until)
    assert done == "END " + ussd_text("ussd.issued_not_sent", **values)
    assert all(m.status != MessageStatus.queued for m in outbound(demo, phone=CLIENT))


def test_worker_gives_an_invalid_client_phone_and_is_asked_again(client, demo):
    again = dial(client, DEMO_WORKER_PHONE, "1", "1", "12")
    assert again.startswith(
        "CON " + ussd_text("ussd.bad_phone") + "\n" + ussd_text("ussd.enter_client_phone")
    )
    assert dial(client, DEMO_WORKER_PHONE, "1", "1", "12", "00") == dial(client, DEMO_WORKER_PHONE)


def test_worker_stats(client, demo, settings):
    issue_code(demo, settings, commit=True)
    issue_code(demo, settings, client=None, commit=True)
    answer = dial(client, DEMO_WORKER_PHONE, "2")
    assert answer == "END " + ussd_text("ussd.stats", issued=2, redeemed=0)


def test_a_client_has_no_worker_menu(client, demo):
    dial(client, CLIENT, "1", "1", "0912000000", "1")
    assert demo.exec(select(ReferralCode)).first() is None


def test_issuing_for_a_client_who_holds_a_valid_code_resends_it(client, demo, settings):
    first = issue_code(demo, settings, commit=True)  # VCT for CLIENT, by SMS
    done = dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
    until = first.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y")
    values = dict(code=code_text.format_code(first.code), service="VCT Tu van suc khoe", until=until)
    assert done == "END " + ussd_text("ussd.resent_to", **values)
    demo.expire_all()
    [row] = demo.exec(select(ReferralCode)).all()
    assert row.id == first.id and row.channel == Channel.sms
    original, again = outbound(demo, phone=CLIENT)
    assert again.text == original.text and again.status == MessageStatus.sent


def test_resending_to_a_client_who_stopped_messages_tells_the_worker_to_hand_it_over(client, demo, settings):
    first = issue_code(demo, settings, commit=True)
    people.set_opt_out(demo, CLIENT, True)
    demo.commit()
    done = dial(client, DEMO_WORKER_PHONE, "1", "1", CLIENT_LOCAL, "1")
    until = first.expires_at.astimezone(settings.tz).strftime("%d/%m/%Y")
    values = dict(code=code_text.format_code(first.code), service="VCT Tu van suc khoe", until=until)
    assert done == "END " + ussd_text("ussd.resent_not_sent", **values)
    assert len(demo.exec(select(ReferralCode)).all()) == 1


def test_the_resent_screens_fit_with_the_longest_service_name(client, demo):
    longest = max((f"{s.code} {s.display_name}" for s in demo.exec(select(Service))), key=len)
    for key in ("ussd.resent_to", "ussd.resent_not_sent"):
        for language in ("vi-ascii", "vi", "en"):
            text = "END " + ussd_text(key, language, code="4821-5093", service=longest, until="23/12/2026")
            assert_screen(text, discreet=False)  # a worker's screen
