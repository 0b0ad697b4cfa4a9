"""The Africa's Talking gateway with the real SDK; its HTTP is intercepted by
`responses` (sandbox and live URLs), nothing leaves the machine."""

from urllib.parse import parse_qsl

import pytest
import requests
import responses

from app.sending.gateways.africastalking import AfricasTalkingGateway
from app.sending.gateways.base import GatewayError

SANDBOX = "https://api.sandbox.africastalking.com/version1/messaging"
LIVE = "https://api.africastalking.com/version1/messaging"
PHONE = "+84912345678"


def recipients(status_code: int, status: str, message_id: str = "ATXid_1", cost: str = "VND 250") -> dict:
    return {
        "SMSMessageData": {
            "Message": "Sent to 1/1 Total Cost: VND 250",
            "Recipients": [
                {
                    "statusCode": status_code,
                    "number": PHONE,
                    "status": status,
                    "cost": cost,
                    "messageId": message_id,
                }
            ],
        }
    }


@pytest.fixture
def sandbox():
    return AfricasTalkingGateway("sandbox", "test-key", sender_id="HEN", timeout=2)


@responses.activate
def test_success_returns_the_gateway_message_id_and_cost(sandbox):
    responses.post(SANDBOX, json=recipients(101, "Success", "ATXid_abc"), status=201)
    result = sandbox.send(PHONE, "Hen: xin chao")
    assert (result.gateway_id, result.status, result.cost) == ("ATXid_abc", "sent", "VND 250")
    sent = responses.calls[0].request
    assert sent.headers["apiKey"] == "test-key"
    body = dict(parse_qsl(sent.body))
    assert (body["username"], body["from"], body["to"], body["message"]) == (
        "sandbox",
        "HEN",
        PHONE,
        "Hen: xin chao",
    )


@responses.activate
def test_a_live_username_uses_the_live_url():
    gateway = AfricasTalkingGateway("hen-live", "k", timeout=2)
    responses.post(LIVE, json=recipients(101, "Success"), status=201)
    assert gateway.send(PHONE, "x").gateway_id == "ATXid_1"
    assert "from=" not in responses.calls[0].request.body  # no sender id: the account default


@responses.activate
def test_queued_is_accepted(sandbox):
    responses.post(SANDBOX, json=recipients(102, "Queued"), status=201)
    assert sandbox.send(PHONE, "x").status == "sent"


# What the gateway answers -> retry later or give up. Each row: the answer
# (HTTP status, and a JSON body, a text body or the exception `requests`
# raises), whether trying again may help, and a word the error must keep.
ANSWERS = {
    "429 too many requests": (429, "Too Many Requests", True, ""),
    "500": (500, "Internal Server Error", True, ""),
    "502": (502, "Internal Server Error", True, ""),
    "503": (503, "Internal Server Error", True, ""),
    "504": (504, "Internal Server Error", True, ""),
    "read timeout": (None, requests.exceptions.ReadTimeout("read timed out"), True, "timeout"),
    "connection refused": (None, requests.exceptions.ConnectionError("refused"), True, ""),
    "recipient 500": (201, recipients(500, "InternalServerError"), True, ""),
    "recipient 501": (201, recipients(501, "GatewayError"), True, ""),
    "recipient 405 out of credit": (201, recipients(405, "InsufficientBalance"), True, ""),
    "no recipients": (201, {"SMSMessageData": {"Message": "Sent to 0/1", "Recipients": []}}, True, ""),
    "recipient 403 invalid number": (
        201,
        recipients(403, "InvalidPhoneNumber", message_id="None", cost="0"),
        False,
        "InvalidPhoneNumber",
    ),
    "recipient 406 blacklisted": (201, recipients(406, "UserInBlacklist"), False, ""),
    "recipient 407 cannot route": (201, recipients(407, "CouldNotRoute"), False, ""),
    "recipient 402 bad sender id": (201, recipients(402, "InvalidSenderId"), False, ""),
    "http 400 invalid number": (400, "Invalid phone number", False, ""),
    "http 401 bad api key": (401, "The supplied authentication is invalid", False, ""),
}


@pytest.mark.parametrize(("status", "body", "retryable", "says"), ANSWERS.values(), ids=ANSWERS.keys())
@responses.activate
def test_each_gateway_answer_is_retried_or_given_up(sandbox, status, body, retryable, says):
    if isinstance(body, dict):
        responses.post(SANDBOX, json=body, status=status)
    elif isinstance(body, Exception):
        responses.post(SANDBOX, body=body)
    else:
        responses.post(SANDBOX, body=body, status=status)
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert err.value.retryable is retryable
    assert says in str(err.value)


def test_a_malformed_number_is_refused_before_any_request(sandbox):
    with responses.RequestsMock(), pytest.raises(GatewayError) as err:  # any request would fail the test
        sandbox.send("0912 345 678", "x")
    assert not err.value.retryable


def test_two_gateways_keep_their_own_credentials():
    a = AfricasTalkingGateway("sandbox", "key-a")
    b = AfricasTalkingGateway("other", "key-b")
    with responses.RequestsMock() as mock:
        mock.post(SANDBOX, json=recipients(101, "Success"), status=201)
        mock.post(LIVE, json=recipients(101, "Success"), status=201)
        a.send(PHONE, "x")
        b.send(PHONE, "x")
        assert [c.request.headers["apiKey"] for c in mock.calls] == ["key-a", "key-b"]
