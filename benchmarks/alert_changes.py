"""What migration 0011 (the changes feed's ``changed_by`` trigger and index) costs the matcher's
claim, on the real schema in PostgreSQL: one claim (``matcher.store.CLAIM``) of N new alerts
with the trigger and index, beside the same claim with both dropped, alternated over several
rounds on fresh alerts, the best of each.

    .venv/bin/python -m benchmarks.alert_changes [--alerts 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import orjson
import psycopg

from matcher.store import CLAIM
from shared.migrate import migrate

ADMIN_URL = os.environ.get(
    "PRICEALERT_TEST_POSTGRES", "postgresql://postgres@localhost:5432/postgres"
)
BATCH = 1000
DROP = "DROP TRIGGER alerts_mark_changed ON alerts; DROP INDEX alerts_changes"
RESTORE = """
CREATE TRIGGER alerts_mark_changed BEFORE INSERT OR UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION alerts_mark_changed();
CREATE INDEX alerts_changes ON alerts (user_id, changed_by)
"""
NEW_ALERTS = "SELECT count(*) FROM create_alert_items(%s::jsonb, 100000000)"
LIVE_IDS = "SELECT id FROM alerts WHERE state = 'created' ORDER BY id"


def _claim(conn: psycopg.Connection[tuple[object, ...]], count: int) -> float:
    """Seconds one claim of ``count`` alerts created for it takes."""
    item = {
        "user_id": 1,
        "symbol": "BTCUSDT",
        "trigger_condition": "above",
        "target_price": "50000",
        "params": {},
        "frequency": "once",
        "cooldown_seconds": None,
        "expires_at": None,
        "channels": {"email": "bench@example.com"},
    }
    for start in range(0, count, BATCH):
        conn.execute(NEW_ALERTS, (orjson.dumps([item] * min(BATCH, count - start)).decode(),))
    ids = [row[0] for row in conn.execute(LIVE_IDS)]
    conn.execute("VACUUM ANALYZE alerts")
    at = ["2026-12-04T00:00:00Z"] * len(ids)
    started = time.perf_counter()
    conn.execute(CLAIM, (ids, ["51000"] * len(ids), at, [None] * len(ids))).fetchall()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    name = f"pricealert_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    try:
        asyncio.run(migrate(url))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO users (username, password_hash) VALUES ('bench', 'x')")
            with_, without = [], []
            for _ in range(args.rounds):
                with_.append(_claim(conn, args.alerts))
                conn.execute(DROP)
                without.append(_claim(conn, args.alerts))
                conn.execute(RESTORE)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    best, base = min(with_), min(without)
    print(
        f"claim of {args.alerts:,} alerts: {best * 1000:.0f} ms with 0011's trigger and index, "
        f"{base * 1000:.0f} ms without ({(best / base - 1) * 100:+.0f}%), "
        f"best of {args.rounds} rounds each, alternated"
    )


if __name__ == "__main__":
    main()
