"""The `hen` command: db upgrade, demo, apikey, serve, dispatcher, simulate, dhis2.

Every failure a person can cause (bad configuration, database down, schema
not migrated) ends with one line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
import sys
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from app import clock
from app.config import ConfigError, Settings, get_settings
from app.db import make_engine, ping, session_factory, session_scope
from app.domain.errors import DomainError

cli = typer.Typer(help="Hen: SMS and USSD referral and reminder service.", no_args_is_help=True)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
apikey_cli = typer.Typer(help="API keys for the admin API.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(apikey_cli, name="apikey")
user_cli = typer.Typer(help="Console accounts (staff and clinic desks).", no_args_is_help=True)
cli.add_typer(user_cli, name="user")
dhis2_cli = typer.Typer(help="The DHIS2 export (DHIS2_MAPPING, DHIS2_URL).", no_args_is_help=True)
cli.add_typer(dhis2_cli, name="dhis2")


def fail(message: str, code: int = 1):
    typer.echo(f"hen: {message}", err=True)
    raise typer.Exit(code)


def _db_error_line(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"database error: {first}"


def friendly_errors(fn):
    """Turn configuration and database failures into one clear line."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ConfigError as exc:
            fail(str(exc))
        except DomainError as exc:
            fail(str(exc))
        except SQLAlchemyError as exc:
            fail(_db_error_line(exc))
        except RuntimeError as exc:
            fail(str(exc))

    return wrapper


def settings() -> Settings:
    return get_settings()


def ready_engine(s: Settings):
    """An engine on a reachable database whose schema is current."""
    from app.migrate import check_schema_current

    engine = make_engine(s.database_url)
    ping(engine)
    check_schema_current(engine)
    return engine


@db_cli.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Apply all migrations (alembic upgrade head)."""
    from app.migrate import upgrade

    s = settings()
    ping(make_engine(s.database_url))
    upgrade(s.database_url)
    typer.echo("database schema is up to date")


@cli.command()
@friendly_errors
def demo() -> None:
    """Load the demo data (services, clinics, a worker, a clinic phone). Idempotent."""
    from app.demo import DEMO_CLINIC_PHONE, DEMO_WORKER_PHONE, load_demo

    engine = ready_engine(settings())
    with session_scope(session_factory(engine)) as session:
        added = load_demo(session)
    summary = ", ".join(f"{v} {k}" for k, v in added.items() if v) or "nothing new"
    typer.echo(
        f"demo data loaded ({summary}); worker phone {DEMO_WORKER_PHONE}, clinic phone {DEMO_CLINIC_PHONE}"
    )


def _password() -> str:
    """The new password: typed twice at a hidden prompt, or the first line
    of standard input when it is not a terminal (never an argument)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Password again", hide_input=True) != first:
        fail("the two passwords differ")
    return first


@user_cli.command("create")
@friendly_errors
def user_create(
    role: Annotated[str, typer.Option(help="admin, clinic or viewer")],
    name: Annotated[str, typer.Option(help="the person's name")],
    email: Annotated[str, typer.Option(help="the address they sign in with")],
    clinic: Annotated[int | None, typer.Option(help="clinic id, for a clinic user")] = None,
) -> None:
    """Create a console account. The password is asked for (or read from
    standard input), never given as an argument."""
    from app.domain.users import create_user

    password = _password()
    engine = ready_engine(settings())
    with session_scope(session_factory(engine)) as session:
        user = create_user(session, role=role, name=name, email=email, password=password, clinic_id=clinic)
        typer.echo(f"created {user.role} user #{user.id} {user.email}")


@apikey_cli.command("create")
@friendly_errors
def apikey_create(
    role: Annotated[str, typer.Option(help="admin, clinic or viewer")],
    name: Annotated[str, typer.Option(help="who holds the key, e.g. 'M&E officer'")],
    clinic: Annotated[int | None, typer.Option(help="clinic id, for a clinic key")] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(help="the key stops working after this many days (default: never)")
    ] = None,
) -> None:
    """Create an API key. The key is printed once, alone on the last line."""
    from app.domain.apikeys import create_api_key

    engine = ready_engine(settings())
    with session_scope(session_factory(engine)) as session:
        row, plain = create_api_key(
            session, role=role, name=name, clinic_id=clinic, expires_in_days=expires_in_days
        )
        typer.echo(f"created {row.role} key #{row.id} '{row.name}'; it is shown only now:")
    typer.echo(plain)


@apikey_cli.command("list")
@friendly_errors
def apikey_list() -> None:
    """List the keys (never the keys themselves): id, state, role, clinic,
    prefix, name, created, last use, expiry."""
    from app.domain.apikeys import list_api_keys, usable

    engine = ready_engine(settings())
    with session_scope(session_factory(engine)) as session:
        now = clock.now()
        for row in list_api_keys(session):
            state = "active" if usable(session, row, now) else ("revoked" if not row.active else "unusable")
            used = row.last_used_at.isoformat(timespec="minutes") if row.last_used_at else "never used"
            created = row.created_at.date().isoformat()
            until = f" until {row.expires_at.date().isoformat()}" if row.expires_at else ""
            clinic = f" clinic {row.clinic_id}" if row.clinic_id else ""
            typer.echo(
                f"#{row.id}\t{state}\t{row.role}{clinic}\t{row.prefix}…\t{row.name}\tcreated {created}\t{used}{until}"
            )


@apikey_cli.command("revoke")
@friendly_errors
def apikey_revoke(
    key: Annotated[str, typer.Argument(help="the key's id or name (see `hen apikey list`)")],
) -> None:
    """Revoke a key: it stops working at once."""
    from app.domain.apikeys import key_id_of, revoke_api_key

    engine = ready_engine(settings())
    with session_scope(session_factory(engine)) as session:
        row = revoke_api_key(session, key_id_of(session, key), actor="cli")
        typer.echo(f"revoked key #{row.id} '{row.name}'")


@apikey_cli.command("rotate")
@friendly_errors
def apikey_rotate(
    key: Annotated[str, typer.Argument(help="the key's id or name (see `hen apikey list`)")],
    expires_in_days: Annotated[int | None, typer.Option(help="the new key's lifetime in days")] = None,
) -> None:
    """Replace a key: the old one stops working, the new one (same name,
    role and clinic) is printed once, alone on the last line."""
    from app.domain.apikeys import key_id_of, rotate_api_key

    engine = ready_engine(settings())
    with session_scope(session_factory(engine)) as session:
        key_id = key_id_of(session, key)
        row, plain = rotate_api_key(session, key_id, actor="cli", expires_in_days=expires_in_days)
        typer.echo(f"key #{key_id} revoked; its successor #{row.id} '{row.name}' is shown only now:")
    typer.echo(plain)


def fail_lines(message: str) -> NoReturn:
    """`fail`, for a message of one line per problem."""
    for line in message.splitlines():
        typer.echo(f"hen: {line}", err=True)
    raise typer.Exit(1)


@dhis2_cli.command("push")
@friendly_errors
def dhis2_push(
    period: Annotated[str, typer.Option(help="the month, YYYYMM as DHIS2 writes it, e.g. 202611")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="DHIS2 checks the import (dryRun=true) and saves nothing")
    ] = False,
) -> None:
    """Send the month's figures to DHIS2 (POST /api/dataValueSets) and print
    its import summary. DHIS2 checks the set first; a set with conflicts is
    not imported. Exits non-zero on any conflict or failure."""
    from app import dhis2_client
    from app.domain import dhis2

    s = settings()
    try:
        mapping = dhis2.load_mapping(s.dhis2_mapping) if s.dhis2_mapping else None
        server = dhis2_client.server_of(s)
        with session_scope(session_factory(ready_engine(s))) as session:
            body = dhis2.data_value_set(session, mapping=mapping, period=period, tz=s.tz)
    except (ConfigError, DomainError) as exc:
        fail_lines(str(exc))
    typer.echo(f"{len(body['dataValues'])} data values for {period}, data set {body['dataSet']}")
    result = dhis2_client.push(server, body, dry_run=dry_run)
    typer.echo("DHIS2 check (dryRun=true): " + "\n".join(result.check.lines()))
    if not result.check.clean:
        fail("DHIS2 reported conflicts in its check: nothing was imported")
    if result.imported is None:
        typer.echo("dry run: DHIS2 checked the import and saved nothing")
        return
    typer.echo("DHIS2 import: " + "\n".join(result.imported.lines()))
    if not result.imported.clean:
        fail("DHIS2 reported conflicts in the import: fix them and push again")


@cli.command()
@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
) -> None:
    """Run the web service (webhooks and admin API)."""
    import uvicorn

    from app.logs import setup_logging

    s = settings()
    if s.dhis2_mapping:  # as create_app will, but one line per problem rather than a traceback
        from app.domain.dhis2 import MappingInvalid, load_mapping

        try:
            load_mapping(s.dhis2_mapping)
        except MappingInvalid as exc:
            fail_lines(str(exc))
    ready_engine(s).dispose()
    setup_logging(s.log_level)
    uvicorn.run("app.main:app", host=host, port=port, log_config=None, proxy_headers=True)


@cli.command()
@friendly_errors
def dispatcher(
    once: Annotated[bool, typer.Option("--once", help="send what is due now, then exit")] = False,
) -> None:
    """Run the reminder and outbox dispatcher until stopped."""
    from app.logs import setup_logging
    from app.main import build_gateway
    from app.sending.dispatcher import Dispatcher

    s = settings()
    engine = ready_engine(s)
    setup_logging(s.log_level)
    d = Dispatcher(session_factory(engine), build_gateway(s), s)
    if once:
        n = d.run_once()
        typer.echo(f"dispatched {n} message(s)")
        return
    d.run_forever()


simulate_cli = typer.Typer(
    help="Play SMS or USSD from the terminal, through the webhooks.", no_args_is_help=True
)
cli.add_typer(simulate_cli, name="simulate")


@simulate_cli.command("sms")
@friendly_errors
def simulate_sms(
    phone: Annotated[str, typer.Argument(help="the sender, e.g. 0900000001 or +84900000001")],
    text: Annotated[str, typer.Argument(help="the SMS text, e.g. 'HELP' or 'REF VCT 0912345678'")],
) -> None:
    """Send one SMS as PHONE and print every message it causes."""
    from app.simulator import Simulator

    s = settings()
    ready_engine(s).dispose()
    with Simulator(s) as sim:
        status, sent, detail = sim.sms(phone, text)
    if status != 200:
        fail(f"webhook answered {status}: {detail}")
    typer.echo(f"<- {phone}: {text}")
    for message in sent:
        typer.echo(message.show())
    if not sent:
        typer.echo("(no reply)")


@simulate_cli.command("ussd")
@friendly_errors
def simulate_ussd(
    phone: Annotated[str, typer.Argument(help="the caller, e.g. 0900000001")],
) -> None:
    """Dial the USSD menu as PHONE; type each answer, Ctrl-D to hang up."""
    from app.simulator import Simulator

    def answers():
        while True:
            try:
                yield input("> " if sys.stdin.isatty() else "")
            except EOFError:
                return

    s = settings()
    ready_engine(s).dispose()
    with Simulator(s) as sim:
        sent = sim.ussd_session(phone, answers(), typer.echo, echo_answers=not sys.stdin.isatty())
    for message in sent:
        typer.echo(message.show())


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
