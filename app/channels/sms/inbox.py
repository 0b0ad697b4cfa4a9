"""Where an inbound SMS from any gateway comes in: `receive` stores and
routes it in a transaction of its own and commits; that commit hands the
replies over for sending (`app.db.hand_over_after_commit`). A webhook is
answered only after the commit, so "200 means the reply is stored" holds.

Run it off the event loop (it waits for the database). On SQLite the
writers of the process queue on one lock (`app.db.sqlite_writer`) rather
than in SQLite's busy handler."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from app.channels.sms.context import InboundResult
from app.channels.sms.router import handle_inbound_sms
from app.config import Settings
from app.db import sqlite_writer


def receive(factory: sessionmaker[Session], settings: Settings, **fields) -> InboundResult:
    """One inbound SMS (the keyword arguments of `handle_inbound_sms`),
    stored, answered and committed."""
    with sqlite_writer(settings), factory() as session:
        result = handle_inbound_sms(session, settings, **fields)
        session.commit()
    return result
