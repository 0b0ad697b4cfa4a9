"""Benchmark: redemption statistics, indicators and the monthly report on 1,000,000 codes.

Creates a scratch PostgreSQL database, migrates it, bulk-loads (server side,
generate_series) 1,000,000 codes over one year from 500 workers, ~60 % of
them redeemed at 40 clinics in 10 districts (70 % with a client phone, from
300,000 people, so people repeat), a year of REACH reports and 50,000
people (10 % opted out), then times every grouped statistic, the
indicators and the monthly report through the same domain functions the
API calls, each beside a baseline (an indexed count of the period's codes)
in the same run, and drops the database.

    .venv/bin/python bench/stats.py [--codes 1000000] [--runs 5] [--explain] [--keep]

HEN_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/test) names
the server; the scratch database is created next to it."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db import make_engine, session_factory  # noqa: E402
from app.demo import load_demo  # noqa: E402
from app.domain import reports, stats  # noqa: E402
from app.migrate import upgrade  # noqa: E402

ADMIN_URL = os.environ.get("HEN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WORKERS, CLINICS, DISTRICTS, PEOPLE = 500, 40, 10, 50_000

LOAD = [
    # 40 clinics in 10 districts, each offering every service
    f"""INSERT INTO clinic (name, display_name, district, province, address, hours, active, created_at)
        SELECT 'Bench clinic ' || i, 'Phong kham ' || i, 'District ' || (i % {DISTRICTS}), 'Bench', '', '', true, now()
        FROM generate_series(1, {CLINICS}) AS i""",
    """INSERT INTO clinic_service (clinic_id, service_id)
        SELECT c.id, s.id FROM clinic c, service s ON CONFLICT DO NOTHING""",
    f"""INSERT INTO worker (name, phone, district, active, created_at)
        SELECT 'Bench worker ' || i, '+8491' || lpad(i::text, 7, '0'), 'District ' || (i % {DISTRICTS}), true, now()
        FROM generate_series(1, {WORKERS}) AS i""",
    # codes: one year of issues; state from a hash of i: 60 % redeemed, 2 % voided, the rest issued
    """INSERT INTO referral_code (code, service_id, worker_id, clinic_id, client_phone, state, channel,
                                  issued_at, expires_at, voided_at)
        SELECT lpad(i::text, 8, '0'),
               (SELECT min(id) FROM service) + (i % 4),
               (SELECT min(id) FROM worker) + ((i * 7919) % {workers}),
               CASE WHEN i % 3 = 0 THEN (SELECT min(id) FROM clinic) + (i % {clinics}) END,
               CASE WHEN i % 10 < 7 THEN '+8497' || lpad(((i * 48271) % 300000)::text, 7, '0') END,
               CASE WHEN (i * 37) % 100 < 60 THEN 'redeemed' WHEN (i * 37) % 100 < 62 THEN 'voided' ELSE 'issued' END,
               'sms',
               t, t + interval '30 days',
               CASE WHEN (i * 37) % 100 BETWEEN 60 AND 61 THEN t + interval '1 hour' END
        FROM generate_series(1::bigint, {codes}) AS i,
             LATERAL (SELECT timestamp '2025-01-01' + (i::float / {codes}) * interval '365 days' AS t) AS ts""",
    # redemptions: 0..29 days after issue, at the referred clinic or one from a hash
    """INSERT INTO redemption (code_id, clinic_id, redeemed_at, channel, actor)
        SELECT id,
               coalesce(clinic_id, (SELECT min(id) FROM clinic) + (id * 31) % {clinics}),
               issued_at + ((id * 13) % 30) * interval '1 day' + ((id * 17) % 600) * interval '1 minute',
               CASE WHEN id % 2 = 0 THEN 'sms' ELSE 'ussd' END, 'bench'
        FROM referral_code WHERE state = 'redeemed'""",
    # the copy on the code that codes.redeem_code writes in its redeeming UPDATE
    """UPDATE referral_code c SET redeemed_at = r.redeemed_at, redeemed_clinic_id = r.clinic_id
        FROM redemption r WHERE r.code_id = c.id""",
    """INSERT INTO outreach_report (worker_id, report_date, people_reached, condoms, created_at, updated_at)
        SELECT w.id, d::date, (w.id + extract(doy FROM d)::int) % 12, (w.id * 3 + extract(doy FROM d)::int) % 40,
               now(), now()
        FROM worker w, generate_series(date '2025-01-01', date '2025-12-31', interval '1 day') AS d""",
    f"""INSERT INTO person (phone, language, opted_out, opted_out_at, created_at)
        SELECT '+8498' || lpad(i::text, 7, '0'), NULL, i % 10 = 0,
               CASE WHEN i % 10 = 0 THEN timestamp '2025-01-01' + (i % 365) * interval '1 day' END, now()
        FROM generate_series(1, {PEOPLE}) AS i""",
]

CASES = [(g, None, None) for g in stats.GROUPS] + [
    (g, date(2025, 6, 1), date(2025, 6, 30)) for g in ("worker", "clinic", "district")
]


def timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm the cache once
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the slowest statistic"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--reuse", metavar="DB", help="time on a database kept by --keep (no load, not dropped)"
    )
    args = parser.parse_args()

    name = args.reuse or f"hen_bench_stats_{uuid.uuid4().hex[:8]}"
    if not args.reuse:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    engine = make_engine(url)
    try:
        upgrade(url)
        factory = session_factory(engine)
        t0 = time.perf_counter()
        if not args.reuse:
            with factory() as session:
                load_demo(session)
                session.commit()
                for sql in LOAD:
                    session.execute(text(sql.format(codes=args.codes, workers=WORKERS, clinics=CLINICS)))
                session.commit()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # the copy's UPDATE leaves a dead version of every redeemed row;
            # compact once, as a long-running table reuses that space
            conn.execute(text("VACUUM FULL ANALYZE" if not args.reuse else "ANALYZE"))
            counts = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("referral_code", "redemption", "outreach_report", "person")
            }
            version = conn.execute(text("SHOW server_version")).scalar_one()
        print(f"PostgreSQL {version}; loaded in {time.perf_counter() - t0:.1f} s: {counts}")
        print(f"{'statistic':<44} {'median':>9} {'max':>9}  groups")

        results = []
        with factory() as session:
            for group_by, start, end in CASES:
                period = f"{start}..{end}" if start else "all (1 year)"

                def run(group_by=group_by, start=start, end=end):
                    return stats.redemption_stats(
                        session, group_by=group_by, date_from=start, date_to=end, tz=TZ, limit=500, offset=0
                    )

                median, worst = timed(run, args.runs)
                results.append((f"stats group_by={group_by} {period}", median, worst, run()[1]))
            for start, end in ((date(2025, 1, 1), date(2025, 12, 31)), (date(2025, 6, 1), date(2025, 6, 30))):

                def ind(start=start, end=end):
                    return reports.figures(session, date_from=start, date_to=end, tz=TZ)

                median, worst = timed(ind, args.runs)
                results.append((f"indicators {start}..{end}", median, worst, "-"))

                def baseline(start=start, end=end):
                    lo, hi = stats.period_bounds(start, end, TZ)
                    return session.execute(
                        text("SELECT count(*) FROM referral_code WHERE issued_at >= :lo AND issued_at < :hi"),
                        {"lo": lo, "hi": hi},
                    ).scalar_one()

                median, worst = timed(baseline, args.runs)
                results.append((f"baseline: count the codes {start}..{end}", median, worst, baseline()))
            for month in ("2025-06", "2025-12"):

                def monthly(month=month):
                    return reports.monthly_report(session, month=month, tz=TZ)

                median, worst = timed(monthly, args.runs)
                results.append((f"monthly report {month}", median, worst, len(monthly().lines)))
            for by in ("site", "district"):

                def year(by=by):
                    return reports.figures(
                        session, date_from=date(2025, 1, 1), date_to=date(2025, 12, 31), tz=TZ, by=by
                    )

                median, worst = timed(year, args.runs)
                results.append((f"report rows by {by}, the whole year", median, worst, len(year())))
        for label, median, worst, groups in results:
            flag = "" if worst < 1.0 else "  OVER 1 s"
            print(f"{label:<44} {median * 1000:>7.0f}ms {worst * 1000:>7.0f}ms  {groups}{flag}")

        if args.explain:
            slowest = max(results[: len(CASES)], key=lambda r: r[1])
            group_by = slowest[0].split("group_by=")[1].split()[0]
            print(f"\nEXPLAIN (ANALYZE, BUFFERS), {slowest[0]}:")
            with factory() as session:
                for setting in stats.PG_SETTINGS:
                    session.execute(text(f"SET LOCAL {setting}"))
                key, joins, months = stats.grouping(session, group_by, TZ, None, None)
                stmt = stats.pg_statement(key, joins, None, None, len(months))
                sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
                for (line,) in session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)):
                    print("  " + line)
    finally:
        engine.dispose()
        if not (args.keep or args.reuse):
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name} (drop it: psql -c 'DROP DATABASE \"{name}\"')")


if __name__ == "__main__":
    main()
