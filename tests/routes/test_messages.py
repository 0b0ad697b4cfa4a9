"""The message log through the API (`app.routes.messages`): phones masked
for every role but admin, filters."""

from __future__ import annotations

from tests.factories import API, CLIENT, issue_by_api


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
        client.get(f"{API}/messages", params={"phone": "0912345678"}, headers=keys.viewer).json()["total"]
        == 1
    )
    assert (
        client.get(f"{API}/messages", params={"phone": "0912345679"}, headers=keys.viewer).json()["total"]
        == 0
    )
    assert client.get(f"{API}/messages", params={"direction": "in"}, headers=keys.viewer).json()["total"] == 0
    assert (
        client.get(f"{API}/messages", params={"direction": "sideways"}, headers=keys.viewer).status_code
        == 422
    )
    assert client.get(f"{API}/messages", params={"phone": "abc"}, headers=keys.viewer).status_code == 422
