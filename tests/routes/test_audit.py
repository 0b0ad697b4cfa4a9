"""The audit log through the API (`app.routes.audit`): who did what."""

from __future__ import annotations

from tests.factories import API, issue_by_api


def test_audit_log_lists_who_did_what(client, keys):
    code = issue_by_api(client, keys)["code"]
    client.post(f"{API}/codes/{code}/void", headers=keys.admin)
    log = client.get(f"{API}/audit", headers=keys.admin).json()
    actions = [a["action"] for a in log["items"]]
    assert actions[:2] == ["code.void", "code.issue"] and "apikey.create" in actions
    only = client.get(f"{API}/audit", params={"action": "code.void"}, headers=keys.admin).json()
    assert only["total"] == 1 and only["items"][0]["actor"] == "key:test admin" and only["items"][0]["at"]
