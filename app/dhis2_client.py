"""Posting a dataValueSet to DHIS2's Web API (`hen dhis2 push`).

`POST {DHIS2_URL}/api/dataValueSets` with HTTP Basic auth and a JSON body,
`importStrategy=CREATE_AND_UPDATE` (a second push of a month updates its
values, never doubles them). A push first asks DHIS2 to check the set
(`dryRun=true`: DHIS2 validates it and saves nothing); only a check with
no conflict is followed by the import, so a set DHIS2 would take in part
is not sent at all. `--dry-run` stops after the check.

DHIS2 2.38 and later wrap the import summary in a web message
(`{"httpStatus": ..., "status": ..., "response": {"importCount": ...,
"conflicts": [...]}}`, answered 409 when there are conflicts); earlier
versions answer the summary itself. Both are read."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests

from app.config import ConfigError, Settings

IMPORT_PATH = "/api/dataValueSets"
CLEAN = ("SUCCESS", "OK")


class Dhis2Error(RuntimeError):
    """DHIS2 could not be reached or refused the request; the message says
    what happened and whether anything was saved."""


@dataclass(frozen=True)
class ImportSummary:
    status: str  # SUCCESS, WARNING, ERROR (OK in some web messages)
    imported: int = 0
    updated: int = 0
    ignored: int = 0
    deleted: int = 0
    conflicts: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""

    @property
    def clean(self) -> bool:
        return self.status in CLEAN and not self.conflicts

    def lines(self) -> list[str]:
        counts = f"imported {self.imported}, updated {self.updated}, ignored {self.ignored}"
        head = [f"status {self.status}: {counts}, deleted {self.deleted}"]
        if self.description and not self.clean:
            head.append(f"  {self.description}")
        return [*head, f"conflicts: {len(self.conflicts)}", *(f"  {conflict}" for conflict in self.conflicts)]


@dataclass(frozen=True)
class Server:
    url: str
    username: str
    password: str
    timeout: float


def server_of(settings: Settings) -> Server:
    """The DHIS2 server of the settings. Raises ConfigError naming what is missing."""
    missing = [
        name
        for name, value in (
            ("DHIS2_URL", settings.dhis2_url),
            ("DHIS2_USERNAME", settings.dhis2_username),
            ("DHIS2_PASSWORD", settings.dhis2_password),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: required to push to DHIS2")
    return Server(
        settings.dhis2_url, settings.dhis2_username, settings.dhis2_password, settings.dhis2_timeout_seconds
    )


def _conflict_line(conflict) -> str:
    if not isinstance(conflict, dict):
        return str(conflict)
    code = f" [{conflict['errorCode']}]" if conflict.get("errorCode") else ""
    return f"{conflict.get('object', '?')}: {conflict.get('value', '')}{code}"


def _count(counts: dict, name: str) -> int:
    try:
        return int(counts.get(name) or 0)
    except (TypeError, ValueError):
        return 0


def parse_summary(body) -> ImportSummary | None:
    """The import summary in a DHIS2 answer (wrapped or not), or None when
    the answer carries none (a plain error message)."""
    if not isinstance(body, dict):
        return None
    summary = body.get("response") if isinstance(body.get("response"), dict) else body
    if "importCount" not in summary and summary.get("responseType") != "ImportSummary":
        return None
    counts = summary.get("importCount") if isinstance(summary.get("importCount"), dict) else {}
    conflicts = summary.get("conflicts") or []
    return ImportSummary(
        status=str(summary.get("status") or body.get("status") or "?"),
        imported=_count(counts, "imported"),
        updated=_count(counts, "updated"),
        ignored=_count(counts, "ignored"),
        deleted=_count(counts, "deleted"),
        conflicts=tuple(_conflict_line(c) for c in conflicts) if isinstance(conflicts, list) else (),
        description=str(summary.get("description") or ""),
    )


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:200]
    text = (response.text or "").strip()
    return text.splitlines()[0][:200] if text else response.reason or "no message"


def post(server: Server, data_value_set: dict, *, dry_run: bool) -> ImportSummary:
    """One POST of the set. Returns DHIS2's import summary (clean or with
    conflicts); raises Dhis2Error when there is none (unreachable, refused,
    a server error, an answer that is not an import summary)."""
    saved = "nothing was saved" if dry_run else "it may have saved part of it: push again once fixed"
    try:
        response = requests.post(
            server.url + IMPORT_PATH,
            params={"dryRun": "true" if dry_run else "false", "importStrategy": "CREATE_AND_UPDATE"},
            json=data_value_set,
            auth=(server.username, server.password),
            headers={"Accept": "application/json"},
            timeout=server.timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise Dhis2Error(
            f"DHIS2 at {server.url} did not answer within {server.timeout:g} s; {saved}"
        ) from None
    except requests.RequestException as exc:
        raise Dhis2Error(
            f"DHIS2 unreachable at {server.url} ({type(exc).__name__}); nothing was sent"
        ) from None
    status = response.status_code
    if status == 401:
        raise Dhis2Error("DHIS2 refused DHIS2_USERNAME/DHIS2_PASSWORD (401); nothing was saved")
    if status == 403:
        raise Dhis2Error(
            f"DHIS2 user {server.username!r} may not import these data values (403): {_message(response)}"
        )
    if status == 404:
        raise Dhis2Error(f"no DHIS2 Web API at {server.url}{IMPORT_PATH} (404): check DHIS2_URL")
    if 300 <= status < 400:
        where = response.headers.get("Location", "?")
        raise Dhis2Error(
            f"DHIS2 answered {status}, a redirect to {where}: check DHIS2_URL; nothing was saved"
        )
    if status >= 500:
        raise Dhis2Error(f"DHIS2 answered {status} ({_message(response)}); {saved}")
    try:
        summary = parse_summary(response.json())
    except ValueError:
        summary = None
    if summary is None:
        raise Dhis2Error(f"DHIS2 answered {status} without an import summary: {_message(response)}")
    return summary


@dataclass(frozen=True)
class PushResult:
    check: ImportSummary  # DHIS2's dry run
    imported: ImportSummary | None  # the import; None for a dry run or a check with conflicts


def push(server: Server, data_value_set: dict, *, dry_run: bool) -> PushResult:
    """Check the set with DHIS2 (dryRun=true), then, unless `dry_run` or
    the check found conflicts, import it. Raises Dhis2Error."""
    check = post(server, data_value_set, dry_run=True)
    if dry_run or not check.clean:
        return PushResult(check, None)
    return PushResult(check, post(server, data_value_set, dry_run=False))
