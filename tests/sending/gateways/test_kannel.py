"""Kannel: the sendsms request and its answers (mocked with `responses`),
the delivery-report table, and the same gateway against a real Kannel
(bearerbox, smsbox, fakesmsc: tests/kannel_harness.py) for MT, delivery
reports and MO, Vietnamese included."""

from __future__ import annotations

import re
import socket
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st

from app.models import MessageStatus
from app.sending.gateways import kannel as kannel_module
from app.sending.gateways.base import GatewayError
from app.sending.gateways.kannel import (
    DELIVERY_FIELDS,
    DELIVERY_STATUS,
    SMS_FIELDS,
    KannelGateway,
    coding_for,
    delivery_status,
)
from tests import debian_packages, kannel_harness
from tests.kannel_harness import Recorder, configure, mo_line, parse_mt

SENDSMS = "http://kannel.test:13013/cgi-bin/sendsms"
PHONE = "+84912345678"
VIETNAMESE = "Hẹn gặp bạn lúc 8 giờ"

kannel = kannel_harness.kannel  # the real-Kannel fixture (module scope)


def gateway(**kwargs) -> KannelGateway:
    options = {"sendsms_url": SENDSMS, "username": "hen", "password": "s3cret-pw", **kwargs}
    return KannelGateway(**options)


def sent_query(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query, keep_blank_values=True).items()}


# ---------------------------------------------------------------- the request


@responses.activate
def test_ascii_text_goes_as_gsm7_with_utf8_charset():
    responses.get(SENDSMS, body="0: Accepted for delivery", status=202)
    result = gateway().send(PHONE, "Hello {x} 5€")
    query = sent_query(responses.calls[0])
    assert query == {
        "username": "hen",
        "password": "s3cret-pw",
        "to": PHONE,
        "text": "Hello {x} 5€",
        "charset": "UTF-8",
        "coding": "0",
    }
    assert result.status == MessageStatus.sent and result.gateway_id is None


@responses.activate
def test_vietnamese_with_diacritics_goes_as_ucs2():
    responses.get(SENDSMS, body="0: Accepted for delivery", status=202)
    gateway().send(PHONE, VIETNAMESE)
    query = sent_query(responses.calls[0])
    assert query["coding"] == "2" and query["text"] == VIETNAMESE and query["charset"] == "UTF-8"


def test_coding_follows_the_gsm7_alphabet():
    assert coding_for("Hen gap ban luc 8 gio") == 0
    assert coding_for("[ok] ~^\\| é ñ ü à €") == 0  # extension table and GSM-7 accents
    assert coding_for(VIETNAMESE) == 2
    assert coding_for("Giá") == 2  # á is not GSM-7


@responses.activate
def test_sender_and_delivery_report_url_carry_our_id():
    responses.get(SENDSMS, body="0: Accepted for delivery", status=202)
    gw = gateway(sender="HEN", dlr_url="http://127.0.0.1:8000/webhooks/kannel/delivery?token=t0k")
    result = gw.send(PHONE, "Hi", message_id=42)
    query = sent_query(responses.calls[0])
    assert query["from"] == "HEN"
    assert query["dlr-mask"] == "31"
    assert query["dlr-url"] == (
        "http://127.0.0.1:8000/webhooks/kannel/delivery?token=t0k&id=42&status=%d&answer=%A"
    )
    assert result.gateway_id == "42"  # what the report's `id` will say


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://h/dlr", "http://h/dlr?id=7&status=%d&answer=%A"),
        ("http://h/dlr?", "http://h/dlr?id=7&status=%d&answer=%A"),
        ("http://h/dlr?token=a%2Bb&", "http://h/dlr?token=a%2Bb&id=7&status=%d&answer=%A"),
    ],
)
def test_delivery_url_joins_the_query(base, expected):
    assert gateway(dlr_url=base).delivery_url(7) == expected


def test_delivery_url_with_a_kannel_escape_code_of_its_own_is_refused():
    with pytest.raises(ValueError, match="escape code"):
        gateway(dlr_url="http://h/dlr?token=%d")
    with pytest.raises(ValueError):
        gateway(dlr_url="http://h/dlr?token=%C3%A9")  # %C is Kannel's charset code


@responses.activate
def test_no_delivery_report_asked_without_our_id_or_without_a_dlr_url():
    responses.get(SENDSMS, body="0: Accepted for delivery", status=202)
    gateway(dlr_url="http://h/dlr").send(PHONE, "Hi")
    gateway().send(PHONE, "Hi", message_id=5)
    for call in responses.calls:
        assert "dlr-mask" not in sent_query(call) and "dlr-url" not in sent_query(call)


# ---------------------------------------------------------------- the answers


@responses.activate
def test_queued_for_later_delivery_is_accepted():
    responses.get(SENDSMS, body="3: Queued for later delivery", status=202)
    assert gateway().send(PHONE, "Hi", message_id=9).gateway_id == "9"


@responses.activate
def test_wrong_credentials_fail_for_good():
    responses.get(SENDSMS, body="Authorization failed for sendsms", status=403)
    with pytest.raises(GatewayError) as caught:
        gateway().send(PHONE, "Hi")
    assert caught.value.retryable is False
    assert "403" in str(caught.value) and "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, "Missing receiver number, rejected"),
        (400, "Number(s) has/have been denied by white- and/or black-lists."),
        (404, "Unknown request"),
    ],
)
@responses.activate
def test_refused_requests_fail_for_good(status, body):
    responses.get(SENDSMS, body=body, status=status)
    with pytest.raises(GatewayError) as caught:
        gateway().send(PHONE, "Hi")
    assert caught.value.retryable is False and body[:40] in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503])
@responses.activate
def test_kannel_in_trouble_is_tried_again(status):
    responses.get(SENDSMS, body="Temporal failure, try again later.", status=status)
    with pytest.raises(GatewayError) as caught:
        gateway().send(PHONE, "Hi")
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    "error", [requests.ConnectTimeout(SENDSMS + "?password=s3cret-pw"), requests.ReadTimeout()]
)
@responses.activate
def test_a_timeout_is_tried_again_without_showing_the_url(error):
    responses.get(SENDSMS, body=error)
    with pytest.raises(GatewayError) as caught:
        gateway().send(PHONE, "Hi")
    assert caught.value.retryable is True and "timeout" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_kannel_not_running_is_tried_again_without_showing_the_password():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = KannelGateway(f"http://127.0.0.1:{port}/cgi-bin/sendsms", "hen", "s3cret-pw", timeout=2)
    with pytest.raises(GatewayError) as caught:
        gw.send(PHONE, "Hi")
    assert caught.value.retryable is True and str(caught.value) == "kannel: ConnectionError"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_log_masks_the_phone(caplog):
    with responses.RequestsMock() as mock, pytest.raises(GatewayError):
        mock.get(SENDSMS, body="Missing receiver number, rejected", status=400)
        gateway().send(PHONE, "Hi")
    record = next(r for r in caplog.records if r.name == "hen.kannel")
    assert record.phone == "+8491****678"


# ---------------------------------------------------------------- delivery reports


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("1", MessageStatus.delivered),
        ("2", MessageStatus.failed),
        ("4", MessageStatus.buffered),
        ("8", MessageStatus.sent),
        ("16", MessageStatus.rejected),
        (" 8 ", MessageStatus.sent),
        ("3", None),
        ("0", None),
        ("31", None),
        ("", None),
        ("-1", None),
        ("+8", None),
        ("0x8", None),
        ("٨", None),  # an Arabic-Indic eight: a digit to str.isdigit, not to Kannel
        ("DELIVRD", None),
        (None, None),
    ],
)
def test_delivery_status_table(text, status):
    assert delivery_status(text) == status


@given(st.one_of(st.text(), st.sampled_from(["1", "2", "4", "8", "16", "016", " 1\n", "1.0", "1e1"])))
def test_delivery_status_never_raises_and_knows_only_the_five_types(text):
    result = delivery_status(text)
    value = text.strip()
    known = re.fullmatch(r"[0-9]{1,3}", value) is not None and int(value) in DELIVERY_STATUS
    assert result == (DELIVERY_STATUS[int(value)] if known else None)


def test_field_specs():
    assert {name for name, (required, _) in SMS_FIELDS.items() if required} == {"from", "text", "id"}
    assert {name for name, (required, _) in DELIVERY_FIELDS.items() if required} == {"id", "status"}
    assert kannel_module.DLR_MASK == 1 + 2 + 4 + 8 + 16


# ---------------------------------------------------------------- the harness's own parsing


def test_fakesmsc_lines_are_parsed():
    text = parse_mt(b"HEN +84912345678 text Hello there")
    assert (text.sender, text.receiver, text.kind, text.text) == ("HEN", PHONE, "text", "Hello there")
    ucs2 = parse_mt(b"8100 +84912345678 ucs-2 %00H%1E%B9%00n%00+%00g")
    assert ucs2.kind == "ucs-2" and ucs2.text == "Hẹn g"
    udh = parse_mt(b"8100 123 udh %05%00%03%03%02%01 data AA+B")
    assert udh.udh == b"\x05\x00\x03\x03\x02\x01" and udh.text == "AA B"
    assert parse_mt(b"not a message") is None


def test_mo_lines_use_ucs2_for_vietnamese_and_stay_short():
    assert mo_line(PHONE, "8100", "HELLO") == f"{PHONE} 8100 text HELLO"
    line = mo_line(PHONE, "8100", "Hẹn")
    assert line == f"{PHONE} 8100 ucs2 %00H%1E%B9%00n"
    with pytest.raises(ValueError, match="254"):
        mo_line(PHONE, "8100", VIETNAMESE * 3)


def test_configure_refuses_a_setting_the_sample_lacks():
    sample = "group = core\nadmin-port = 1\n"
    assert configure(sample, {("core", "admin-port"): "2"}) == "group = core\nadmin-port = 2\n"
    with pytest.raises(ValueError, match="smsbox"):
        configure(sample, {("smsbox", "sendsms-port"): "3"})


@pytest.mark.parametrize(("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_without_kannel_the_real_tests_skip_or_fail_under_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(kannel_harness, "_binaries", lambda: None)
    monkeypatch.setattr(debian_packages.os, "geteuid", lambda: 1000)  # not root: no apt-get
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="kannel-extras"):
        kannel_harness.ensure_kannel()


# ---------------------------------------------------------------- a real Kannel


@pytest.fixture(scope="module")
def mo_server():
    server = Recorder()
    yield server
    server.close()


@pytest.fixture(scope="module")
def dlr_server():
    server = Recorder()
    yield server
    server.close()


@pytest.fixture(scope="module")
def kannel_get_url(mo_server):
    return f"{mo_server.url}webhooks/kannel/sms?token=t0k&from=%p&to=%P&text=%a&id=%I"


def test_real_kannel_delivers_ascii_and_vietnamese_and_reports_delivery(kannel, dlr_server):
    gw = KannelGateway(
        kannel.sendsms_url, kannel.username, kannel.password, sender="HEN",
        dlr_url=f"{dlr_server.url}webhooks/kannel/delivery?token=t0k", timeout=5,
    )  # fmt: skip
    ascii_result = gw.send(PHONE, "Your code is HX7K2 [ok]", message_id=101)
    vietnamese_result = gw.send("+84987654321", VIETNAMESE, message_id=102)
    assert (ascii_result.gateway_id, vietnamese_result.gateway_id) == ("101", "102")

    ascii_mt = kannel.wait_for_mt(lambda mt: mt.receiver == PHONE)
    assert (ascii_mt.sender, ascii_mt.kind, ascii_mt.text) == ("HEN", "text", "Your code is HX7K2 [ok]")
    vietnamese_mt = kannel.wait_for_mt(lambda mt: mt.receiver == "+84987654321")
    assert (vietnamese_mt.kind, vietnamese_mt.text) == ("ucs-2", VIETNAMESE)

    # the fake SMSC reports 8 (accepted by the SMSC) and 1 (delivered), in no set order
    for message_id in ("101", "102"):
        for kind, status in (("8", MessageStatus.sent), ("1", MessageStatus.delivered)):
            report = dlr_server.wait_for(
                lambda q, i=message_id, k=kind: q.get("id") == i and q.get("status") == k
            )
            assert report["token"] == "t0k" and delivery_status(report["status"]) == status
            assert set(report) <= {"token", *DELIVERY_FIELDS}


def test_real_kannel_passes_incoming_sms_to_the_get_url(kannel, mo_server):
    kannel.type_mo("+84911222333", "8100", VIETNAMESE)
    vietnamese = mo_server.wait_for(lambda q: q.get("from") == "+84911222333")
    kannel.type_mo("+84911222444", "8100", "HEN 123456")
    ascii_mo = mo_server.wait_for(lambda q: q.get("from") == "+84911222444")

    assert vietnamese["text"] == VIETNAMESE  # sent as UCS-2, recoded to UTF-8 (mo-recode)
    assert (vietnamese["to"], vietnamese["token"]) == ("8100", "t0k")
    assert ascii_mo["text"] == "HEN 123456"
    for request in (vietnamese, ascii_mo):
        uuid.UUID(request["id"])  # %I: Kannel's id of the message
        assert set(request) == {"token", *SMS_FIELDS}
    assert vietnamese["id"] != ascii_mo["id"]
    # max-messages = 0: the get-url's answer is never sent back as an SMS
    with pytest.raises(TimeoutError):
        kannel.wait_for_mt(lambda mt: mt.receiver.startswith("+8491122"), timeout=1.5)
