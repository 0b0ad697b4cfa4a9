"""The message log through the API (`app.routes.messages`): phones masked
for every role but admin, in the `phone` field and inside the texts; the
`phone` filter is for admin keys only; other filters."""

from __future__ import annotations

from tests.factories import API, CLIENT, DEMO_WORKER_PHONE, issue_by_api, send


def test_message_log_masks_phones_for_every_role_but_admin(client, keys):
    issue_by_api(client, keys, client_phone=CLIENT)
    admin = client.get(f"{API}/messages", headers=keys.admin).json()
    assert admin["total"] == 1
    item = admin["items"][0]
    assert item["phone"] == CLIENT and item["direction"] == "out" and item["status"] == "sent"
    assert {"text", "created_at"} <= item.keys()
    viewer = client.get(f"{API}/messages", headers=keys.viewer).json()
    assert viewer["items"][0]["phone"] == "+8491****678"
    assert (
        client.get(f"{API}/messages", params={"phone": "0912345678"}, headers=keys.admin).json()["total"] == 1
    )
    assert (
        client.get(f"{API}/messages", params={"phone": "0912345679"}, headers=keys.admin).json()["total"] == 0
    )
    assert client.get(f"{API}/messages", params={"direction": "in"}, headers=keys.viewer).json()["total"] == 0
    assert (
        client.get(f"{API}/messages", params={"direction": "sideways"}, headers=keys.viewer).status_code
        == 422
    )
    assert client.get(f"{API}/messages", params={"phone": "abc"}, headers=keys.admin).status_code == 422


def test_phones_typed_in_a_message_are_masked_in_its_text_but_for_admin(client, keys):
    send(client, "GT VCT 0912 345 678", phone=DEMO_WORKER_PHONE)
    viewer = client.get(f"{API}/messages", params={"limit": 500}, headers=keys.viewer).json()
    assert viewer["total"] >= 2  # the worker's message and the replies
    texts = [m["text"] for m in viewer["items"]]
    assert "GT VCT +8491****678" in texts
    for text in texts:
        digits = "".join(ch for ch in text if ch.isdigit())
        assert "912345678" not in digits, text
    admin = client.get(f"{API}/messages", params={"direction": "in"}, headers=keys.admin).json()
    assert admin["items"][0]["text"] == "GT VCT 0912 345 678"


def test_the_phone_filter_is_refused_to_keys_that_see_phones_masked(client, keys):
    issue_by_api(client, keys, client_phone=CLIENT)
    for phone in ("0912345678", "0912345679"):  # known or not, the same answer
        r = client.get(f"{API}/messages", params={"phone": phone}, headers=keys.viewer)
        assert r.status_code == 403 and "phone" in r.json()["detail"], r.text
