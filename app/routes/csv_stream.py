"""Streamed CSV responses that open cleanly in a spreadsheet.

UTF-8 with a byte-order mark (so Excel reads the Vietnamese as UTF-8), a
header row, CRLF line ends. The rows are produced while the body is sent,
from a session of their own that lives as long as the response body, so a
large export is never loaded whole in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlmodel import Session

BOM = "\ufeff"
FLUSH_EVERY = 500  # rows per chunk of the body
LOCAL_FORMAT = "%Y-%m-%d %H:%M"

CSV_RESPONSE = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "CSV, UTF-8 with a byte-order mark, header row, CRLF",
    }
}

Rows = Callable[[Session], Iterable[Mapping[str, Any]]]


def local_time(instant: datetime | None, tz: ZoneInfo) -> str | None:
    """A UTC instant as the program's wall-clock time, `2026-12-02 14:05`."""
    return instant.astimezone(tz).strftime(LOCAL_FORMAT) if instant is not None else None


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def csv_lines(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """The encoded CSV: BOM and header first, then the rows, FLUSH_EVERY a
    chunk. Keys of a row not in `columns` are ignored; missing ones are empty."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for count, row in enumerate(rows, start=1):
        writer.writerow({k: _cell(v) for k, v in row.items()})
        if count % FLUSH_EVERY == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def csv_response(request: Request, filename: str, columns: Sequence[str], rows: Rows) -> StreamingResponse:
    """A CSV attachment named `filename` with `columns` as its header;
    `rows(session)` is called when the body starts, with a session opened
    for the body and closed after it, and yields one mapping per line."""
    factory = request.app.state.session_factory

    def body() -> Iterator[bytes]:
        with factory() as session:
            yield from csv_lines(columns, rows(session))

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
