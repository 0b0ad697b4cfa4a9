"""Prometheus metrics (`app.metrics`, `GET /metrics`): messages and the
dispatch queue, read from the database at most once per cache time, for
those holding the metrics token."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from app import metrics as app_metrics
from app.main import create_app
from app.models import Direction, Message, MessageKind, MessageStatus, Reminder, ReminderKind
from app.sending.gateways.memory import MemoryGateway
from tests.conftest import make_settings


def _message(direction, status, keyword=None, **kw) -> Message:
    return Message(
        direction=direction,
        kind=MessageKind.inbound if direction == Direction.inbound else MessageKind.reply,
        phone="+84912345678",
        text="x",
        status=status,
        keyword=keyword,
        **kw,
    )


def _metric(text: str, name: str, labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{labels}}} not in metrics:\n{text}")


def test_metrics_count_messages_and_queue_from_the_database(client, session, frozen_clock):
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    frozen_clock(now)
    session.add(_message(Direction.inbound, MessageStatus.received, keyword="HELP", external_id="a"))
    session.add(_message(Direction.inbound, MessageStatus.received, keyword="HELP", external_id="b"))
    session.add(_message(Direction.outbound, MessageStatus.delivered))
    session.add(
        _message(Direction.outbound, MessageStatus.queued, next_attempt_at=now - timedelta(seconds=90))
    )
    session.add(
        Reminder(
            kind=ReminderKind.custom, phone="+84912345678", due_at=now - timedelta(minutes=10), text_key="k"
        )
    )
    session.commit()

    r = client.get("/metrics")
    assert r.status_code == 200
    body = r.text
    assert _metric(body, "hen_inbound_messages_total", 'keyword="HELP"') == 2
    assert _metric(body, "hen_outbound_messages", 'status="delivered"') == 1
    # statuses change (queued -> sent -> delivered): a gauge, not a counter
    assert "# TYPE hen_outbound_messages gauge" in body
    assert _metric(body, "hen_dispatch_queue_depth", 'queue="messages"') == 1
    assert _metric(body, "hen_dispatch_queue_depth", 'queue="reminders"') == 1
    assert _metric(body, "hen_dispatch_lag_seconds", 'queue="messages"') == 90
    assert _metric(body, "hen_dispatch_lag_seconds", 'queue="reminders"') == 600


# ---------------------------------------------------------------- who may scrape, and what a scrape costs


def _app(database_url, db, **overrides):
    return create_app(make_settings(database_url, **overrides), gateway=MemoryGateway(), engine=db)


def test_with_a_metrics_token_a_scrape_needs_it(database_url, db):
    with TestClient(_app(database_url, db, METRICS_TOKEN="s3cret-scrape")) as c:
        missing = c.get("/metrics")
        wrong = c.get("/metrics", headers={"Authorization": "Bearer nope"})
        basic = c.get("/metrics", headers={"Authorization": "Basic s3cret-scrape"})
        right = c.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    for refused in (missing, wrong, basic):
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert "METRICS_TOKEN" in refused.json()["detail"]
    assert right.status_code == 200 and "hen_dispatch_queue_depth" in right.text


def test_in_production_without_a_metrics_token_only_reader_keys_scrape(database_url, db, session):
    from app.domain.apikeys import create_api_key

    keys = {
        role: create_api_key(session, role=role, name=f"scrape {role}")[1] for role in ("admin", "viewer")
    }
    _, desk = create_api_key(session, role="clinic", name="desk", clinic_id=_a_clinic(session))
    session.commit()
    with TestClient(_app(database_url, db, APP_ENV="production")) as c:
        anonymous = c.get("/metrics")
        by_desk = c.get("/metrics", headers={"Authorization": f"Bearer {desk}"})
        by_readers = [c.get("/metrics", headers={"Authorization": f"Bearer {k}"}) for k in keys.values()]
    for refused in (anonymous, by_desk):
        assert refused.status_code == 401 and "API key" in refused.json()["detail"]
    assert [r.status_code for r in by_readers] == [200, 200]


def _a_clinic(session) -> int:
    from app.models import Clinic

    clinic = Clinic(name="Scrape test clinic", display_name="Phong kham", district="D")
    session.add(clinic)
    session.flush()
    return clinic.id


def test_figures_are_kept_for_the_cache_time(database_url, db, session):
    session.add(_message(Direction.inbound, MessageStatus.received, keyword="HELP", external_id="a"))
    session.commit()
    with (
        TestClient(_app(database_url, db)) as cached,
        TestClient(_app(database_url, db, METRICS_CACHE_SECONDS=0)) as uncached,
    ):
        assert _metric(cached.get("/metrics").text, "hen_inbound_messages_total", 'keyword="HELP"') == 1
        assert _metric(uncached.get("/metrics").text, "hen_inbound_messages_total", 'keyword="HELP"') == 1
        session.add(_message(Direction.inbound, MessageStatus.received, keyword="HELP", external_id="b"))
        session.commit()
        assert _metric(cached.get("/metrics").text, "hen_inbound_messages_total", 'keyword="HELP"') == 1
        assert _metric(uncached.get("/metrics").text, "hen_inbound_messages_total", 'keyword="HELP"') == 2


def test_parallel_scrapes_read_the_database_once(database_url, db, monkeypatch):
    reads = []
    real = app_metrics.read_figures

    def slow_read(engine):
        reads.append(threading.get_ident())
        time.sleep(0.3)
        return real(engine)

    monkeypatch.setattr(app_metrics, "read_figures", slow_read)
    with TestClient(_app(database_url, db)) as c, ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: c.get("/metrics"), range(20)))
    assert [r.status_code for r in answers] == [200] * 20
    assert len(reads) == 1


def test_while_figures_are_read_again_other_scrapes_get_the_previous_ones(db, monkeypatch):
    cache = app_metrics.MetricsCache(db, ttl=0)
    first = cache.figures()
    entered, release = threading.Event(), threading.Event()
    real = app_metrics.read_figures

    def held_read(engine):
        entered.set()
        release.wait(5)
        return real(engine)

    monkeypatch.setattr(app_metrics, "read_figures", held_read)
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(cache.figures)
        assert entered.wait(5)
        assert cache.figures() is first  # at once, without a second read
        release.set()
        assert reading.result(5) is not first
