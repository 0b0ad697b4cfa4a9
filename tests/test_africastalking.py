"""The Africa's Talking gateway with the real SDK; its HTTP is intercepted by
`responses` (sandbox and live URLs), nothing leaves the machine."""

from urllib.parse import parse_qsl

import pytest
import requests
import responses

from app.sending.africastalking import AfricasTalkingGateway
from app.sending.gateway import GatewayError

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


@responses.activate
def test_429_is_retryable(sandbox):
    responses.post(SANDBOX, body="Too Many Requests", status=429)
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert err.value.retryable


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@responses.activate
def test_5xx_is_retryable(sandbox, status):
    responses.post(SANDBOX, body="Internal Server Error", status=status)
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert err.value.retryable


@responses.activate
def test_a_timeout_is_retryable(sandbox):
    responses.post(SANDBOX, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert err.value.retryable and "timeout" in str(err.value)


@responses.activate
def test_a_connection_error_is_retryable(sandbox):
    responses.post(SANDBOX, body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert err.value.retryable


@responses.activate
def test_a_rejected_number_is_not_retryable(sandbox):
    responses.post(
        SANDBOX, json=recipients(403, "InvalidPhoneNumber", message_id="None", cost="0"), status=201
    )
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert not err.value.retryable and "InvalidPhoneNumber" in str(err.value)


@pytest.mark.parametrize(
    ("code", "status"), [(406, "UserInBlacklist"), (407, "CouldNotRoute"), (402, "InvalidSenderId")]
)
@responses.activate
def test_other_refusals_of_the_number_are_not_retryable(sandbox, code, status):
    responses.post(SANDBOX, json=recipients(code, status), status=201)
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert not err.value.retryable


@pytest.mark.parametrize(
    ("code", "status"), [(500, "InternalServerError"), (501, "GatewayError"), (405, "InsufficientBalance")]
)
@responses.activate
def test_gateway_side_trouble_per_recipient_is_retryable(sandbox, code, status):
    responses.post(SANDBOX, json=recipients(code, status), status=201)
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert err.value.retryable


@responses.activate
def test_an_http_400_refusal_is_not_retryable(sandbox):
    responses.post(SANDBOX, body="Invalid phone number", status=400)
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert not err.value.retryable


@responses.activate
def test_a_bad_api_key_is_not_retryable(sandbox):
    responses.post(SANDBOX, body="The supplied authentication is invalid", status=401)
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert not err.value.retryable


@responses.activate
def test_an_answer_without_recipients_is_retryable(sandbox):
    responses.post(SANDBOX, json={"SMSMessageData": {"Message": "Sent to 0/1", "Recipients": []}}, status=201)
    with pytest.raises(GatewayError) as err:
        sandbox.send(PHONE, "x")
    assert err.value.retryable


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
