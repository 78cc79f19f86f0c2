"""Console page times on a large book: `.venv/bin/python bench/console_pages.py`.

Seeds 100k accounts (balances and margin health), 200k commands over two days (with their
transfers and outcome events, some held or failed), a long margin history for one account,
screenings, alerts and dead letters, all set-based; then renders every console page (and the
command search API) in-process through the Flask test client, signed in with an admin key, and
prints the median and worst of several renders. Target: each page <= 300 ms.

Uses DATABASE_URL / CELERY_BROKER_URL when set, else private servers under .fusion/bench;
the database is fresh and dropped at the end (bench.common.Stack)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import Stack  # noqa: E402

TARGET_MS = 300.0
# Set-based seeding, one statement per table; the bench owns its fixtures' SQL.
SEED = (
    """INSERT INTO ledger_balances (account_id, asset, kind, no_overdraft, debits_posted,
           credits_posted, debits_pending, credits_pending)
       SELECT 'acct-' || g, 'USD', 'customer', true, 0, 1000, 0, 0
         FROM generate_series(1, %(accounts)s) g""",
    """INSERT INTO ledger_balances (account_id, asset, kind, no_overdraft, debits_posted,
           credits_posted, debits_pending, credits_pending)
       VALUES ('external:bank:USD', 'USD', 'external', false, 1000 * %(accounts)s, 0, 0, 0)""",
    """INSERT INTO commands (command_id, type, status, reason, reason_detail, payer, payee,
           asset, amount, payload, request_hash, enqueue_count, received_at, last_enqueued_at,
           validated_at, settling_at, settled_at, failed_at)
       SELECT 'cmd-' || g, 'COLLATERAL_TRANSFER', s.status,
              CASE WHEN s.status = 'failed' THEN 'insufficient_funds'
                   WHEN s.held THEN 'compliance_review' END,
              CASE WHEN s.held THEN 'payee review: aml_high_risk_alert' END,
              'acct-' || (1 + g %% %(accounts)s), 'acct-' || (1 + (g * 7) %% %(accounts)s),
              'USD', 1, '{}', md5(g::text), 1, t.at, t.at,
              CASE WHEN s.status = 'settled' THEN t.at END,
              CASE WHEN s.status = 'settled' THEN t.at END,
              CASE WHEN s.status = 'settled' THEN t.at END,
              CASE WHEN s.status = 'failed' THEN t.at END
         FROM generate_series(1, %(commands)s) g,
              LATERAL (SELECT now() - (g * interval '2 days' / %(commands)s) AS at) t,
              LATERAL (SELECT CASE WHEN g %% 50 = 0 THEN 'failed'
                                   WHEN g %% 97 = 0 THEN 'received' ELSE 'settled' END AS status,
                              g %% 97 = 0 AND g %% 50 <> 0 AS held) s""",
    """INSERT INTO ledger_transfers (transfer_id, debit_account, credit_account, asset, amount,
           status, created_at, resolved_at)
       SELECT command_id || ':payment', payer, payee, 'USD', 1, 'posted', received_at,
              received_at
         FROM commands WHERE status = 'settled' AND payer <> payee""",
    """INSERT INTO outbox (id, topic, event_type, aggregate_id, payload, created_at,
           published_at, attempts)
       SELECT gen_random_uuid()::text, 'settlement.results.v1', 'command.' || status,
              command_id, '{}', received_at, received_at, 1
         FROM commands WHERE status IN ('settled', 'failed')""",
    """INSERT INTO risk_accounts (account_id, status, alert_status, health_score, calculated_at)
       SELECT 'acct-' || g, b.status, b.status, b.score, now()
         FROM generate_series(1, %(accounts)s) g,
              LATERAL (SELECT (g %% 1000) / 10.0 AS score) s,
              LATERAL (SELECT s.score AS score, CASE WHEN s.score < 5 THEN 'LIQUIDATION'
                   WHEN s.score < 15 THEN 'MARGIN_CALL' WHEN s.score < 30 THEN 'WARNING'
                   ELSE 'HEALTHY' END AS status) b""",
    """INSERT INTO risk_snapshots (account_id, status, health_score, unpriced_assets, cause,
           calculated_at)
       SELECT 'acct-1', 'HEALTHY', 50 + (g %% 40), '{}', 'price', now() - g * interval '1 min'
         FROM generate_series(1, 5000) g""",
    """INSERT INTO risk_snapshots (account_id, status, health_score, unpriced_assets, cause,
           calculated_at)
       SELECT 'acct-' || g, 'HEALTHY', 60, '{}', 'batch', now() - interval '1 hour'
         FROM generate_series(2, %(accounts)s) g""",
    """INSERT INTO screenings (screening_id, party, source, status, request_hash, decision,
           hits, requested_at, completed_at)
       SELECT 'scr-' || g, 'acct-' || g, 'api', 'completed', md5(g::text),
              CASE WHEN g %% 500 = 0 THEN 'possible' ELSE 'clear' END, '[]', now(), now()
         FROM generate_series(1, %(accounts)s) g""",
    """INSERT INTO compliance_alerts (alert_id, dedup_key, kind, party, level, status, details,
           history, opened_at)
       SELECT 'alert-' || g, 'bench:' || g, 'aml_check', 'acct-' || g, 'high',
              CASE WHEN g %% 3 = 0 THEN 'open' ELSE 'resolved' END, '{}', '[]', now()
         FROM generate_series(1, 3000) g""",
    """INSERT INTO dead_letters (id, subscription, message_id, data, attributes, reason,
           detail, replay_count, received_at)
       SELECT gen_random_uuid()::text, 'settlement-events', 'm-' || g,
              convert_to('{"bad": ' || g || '}', 'UTF8'), '{}', 'invalid_payload', 'bench', 0,
              now() - g * interval '1 min'
         FROM generate_series(1, 2000) g""",
    "ANALYZE",
)


def seed(accounts: int, commands: int) -> float:
    from app.persistence.db import get_engine  # noqa: PLC0415

    started = time.perf_counter()
    raw = get_engine().raw_connection()
    try:
        with raw.cursor() as cursor:
            for sql in SEED:
                cursor.execute(sql, {"accounts": accounts, "commands": commands})
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def measure(repeats: int) -> dict[str, dict[str, float]]:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services.apikeys import create_api_key  # noqa: PLC0415
    from web import create_app  # noqa: PLC0415

    with unit_of_work() as session:
        key = create_api_key(session, name="bench-console", scopes=["admin"])
    client = create_app().test_client()
    form = client.get("/console/sign-in").get_data(as_text=True)
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert client.post("/console/sign-in", data={"api_key": key, "csrf_token": token}
                       ).status_code == 302
    pages = {
        "overview (hour)": "/console/overview?window=hour",
        "overview (day)": "/console/overview?window=day",
        "commands": "/console/commands",
        "commands ?status=held": "/console/commands?status=held",
        "commands ?status=failed": "/console/commands?status=failed",
        "commands ?party=": "/console/commands?party=acct-4242",
        "command story": "/console/commands/cmd-4242",
        "ledger (zero-sum)": "/console/ledger",
        "account": "/console/ledger/acct-4242",
        "risk (bands, nearest)": "/console/risk",
        "risk account history": "/console/risk/acct-1",
        "compliance": "/console/compliance",
        "dead letters": "/console/dead-letters",
        "batches": "/console/batches",
    }
    api = {"GET /v1/settlement/commands ?party=": "/v1/settlement/commands?party=acct-4242",
           "GET /v1/settlement/commands ?status=held": "/v1/settlement/commands?status=held"}
    figures: dict[str, dict[str, float]] = {}
    for name, path in [*pages.items(), *api.items()]:
        headers = {"Authorization": f"Bearer {key}"} if path.startswith("/v1/") else {}
        samples = []
        for _ in range(repeats + 1):  # the first render warms caches and is not counted
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        figures[name] = {"median_ms": statistics.median(samples[1:]), "max_ms": max(samples[1:])}
    return figures


def run(accounts: int, commands: int, repeats: int) -> dict[str, Any]:
    seconds = seed(accounts, commands)
    return {"accounts": accounts, "commands": commands, "seed_s": seconds,
            "pages": measure(repeats)}


def report(result: dict[str, Any]) -> bool:
    print(f"\n== Console pages on {result['accounts']} accounts and {result['commands']} "
          f"commands (seeded in {result['seed_s']:.1f} s; in-process, test client) ==")
    ok = True
    for name, d in result["pages"].items():
        verdict = "OK" if d["max_ms"] <= TARGET_MS else "MISSED"
        ok = ok and verdict == "OK"
        print(f"  {name:<42} median {d['median_ms']:7.1f} ms  max {d['max_ms']:7.1f} ms  "
              f"(<= {TARGET_MS:.0f} ms: {verdict})")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--commands", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    stack = Stack()
    try:
        stack.start()
        ok = report(run(args.accounts, args.commands, args.repeats))
    finally:
        stack.close()
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
