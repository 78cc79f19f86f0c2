"""Risk batch recompute: set-based chunks against one task per account.

    .venv/bin/python bench/risk_recompute.py [--accounts 100000] [--sample 2000]

Starts private PostgreSQL and Redis under .fusion/bench-risk, a fresh database migrated to the
heads, and one `celery worker -c 2` on the risk and batch queues; seeds N accounts holding 1-5
positions each (collateral and borrows over ETH, BTC, USDC, USDT, USD) with fresh prices; runs one
full recompute to settle every account's status (the baseline); then moves the prices and times:

* set-based: a full recompute (`start_batch` scope all, chunks as a Celery group on `batch`),
  from the price move until the batch row says completed;
* per account: `risk.recompute_margin` for a random sample of accounts, one task each, until
  every one has its snapshot; extrapolated to N.

Both paths write the same snapshots, outbox rows and margin events. Everything started is
stopped and the database dropped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

DATA_DIR = ROOT / ".fusion" / "bench-risk"
ASSETS = {"ETH": Decimal("3200"), "BTC": Decimal("64000"), "USDC": Decimal("1"),
          "USDT": Decimal("1")}
POOL = ("ETH", "BTC", "USDC", "USDT", "USD")


def seed(accounts: int, rng: random.Random) -> int:
    """COPY N accounts and their positions; returns the number of positions."""
    import psycopg  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    from app.config import get_settings  # noqa: PLC0415

    url = make_url(get_settings().database_url).set(drivername="postgresql")
    ids = [f"acct-{n:06d}" for n in range(accounts)]
    positions = io.StringIO()
    count = 0
    for account in ids:
        held = rng.sample(POOL, rng.randint(1, 5))
        # The first asset is collateral worth 20-60k USD; each other one is a borrow of 30-90%
        # of that value or more collateral, so statuses spread over every band.
        base = Decimal(rng.randint(20_000, 60_000))
        for i, asset in enumerate(held):
            unit = ASSETS.get(asset, Decimal(1))
            if i == 0 or rng.random() < 0.4:
                qty, side = (base / unit).quantize(Decimal("0.00000001")), "c"
            else:
                share = Decimal(rng.randint(30, 90)) / 100 / (len(held) - 1)
                qty, side = (base * share / unit).quantize(Decimal("0.00000001")), "b"
            collateral, borrowed = (qty, 0) if side == "c" else (0, qty)
            positions.write(f"{account}\t{asset}\t{collateral}\t{borrowed}\t0\n")
            count += 1
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        with conn.cursor().copy("COPY risk_accounts (account_id) FROM STDIN") as copy:
            for account in ids:
                copy.write_row((account,))
        with conn.cursor().copy("COPY risk_positions (account_id, asset, collateral, borrowed, "
                                "escrowed) FROM STDIN") as copy:
            copy.write(positions.getvalue())
        conn.execute("ANALYZE risk_accounts")
        conn.execute("ANALYZE risk_positions")
    return count


def move_prices(factor: Decimal) -> None:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services.risk import prices  # noqa: PLC0415

    now = datetime.now(UTC)
    with unit_of_work() as session:
        for asset, price in ASSETS.items():
            moved = price * factor if asset in ("ETH", "BTC") else price
            prices.record_price(session, asset=asset, price_usd=moved, timestamp=now,
                                source="bench", now=now)


def vacuum() -> None:
    """Settle the tables before a measured phase, so that neither phase pays for autovacuum
    cleaning up after the previous one."""
    import psycopg  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    from app.config import get_settings  # noqa: PLC0415

    url = make_url(get_settings().database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) risk_accounts, risk_positions, risk_snapshots, outbox")
        conn.execute("CHECKPOINT")


def full_recompute(timeout: float) -> dict[str, Any]:
    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services.risk import batch  # noqa: PLC0415
    from tasks.risk import dispatch_chunks  # noqa: PLC0415

    with unit_of_work() as session:
        plan = batch.start_batch(session, scope="all", asset=None, trigger="cli",
                                 now=datetime.now(UTC),
                                 chunk_size=get_settings().risk_batch_chunk_size)
    assert plan is not None
    dispatch_chunks(plan.batch_id, plan.chunk_nos)

    def finished() -> dict[str, Any] | None:
        with unit_of_work() as session:
            state = batch.progress(session, plan.batch_id, datetime.now(UTC))
        return state if state["status"] != "running" else None

    return common.wait_for(finished, timeout=timeout, interval=0.05, what="batch completed")


def per_account(sample: list[str], timeout: float) -> float:
    """Seconds for one risk.recompute_margin task per sampled account, sent all at once."""
    from sqlalchemy import func, select  # noqa: PLC0415

    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.risk_models import RiskAccount  # noqa: PLC0415
    from tasks.risk import send_margin_recompute  # noqa: PLC0415

    started_at = datetime.now(UTC)
    started = time.perf_counter()
    for account in sample:
        send_margin_recompute(account, cause="bench")

    def done() -> bool:
        # Primary-key lookups of the sample: polling must not cost the database more than
        # the tasks it waits for (a scan of the snapshots would).
        with unit_of_work() as session:
            recalculated = session.scalar(select(func.count()).select_from(RiskAccount).where(
                RiskAccount.account_id.in_(sample),
                RiskAccount.calculated_at >= started_at)) or 0
        return recalculated >= len(sample)

    common.wait_for(done, timeout=timeout, interval=0.25, what="per-account tasks done")
    return time.perf_counter() - started


def run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    rng = random.Random(args.seed)
    started = time.perf_counter()
    positions = seed(args.accounts, rng)
    print(f"seeded {args.accounts} accounts, {positions} positions "
          f"in {time.perf_counter() - started:.1f} s")
    move_prices(Decimal(1))
    baseline = full_recompute(args.timeout)
    print(f"baseline full recompute: {baseline['elapsed_seconds']:.2f} s, "
          f"{baseline['events_emitted']} margin events")

    move_prices(Decimal("0.92"))  # ETH and BTC fall 8 %
    vacuum()
    meter = common.CpuMeter()
    clock = time.perf_counter()
    state = full_recompute(args.timeout)
    batch_seconds = time.perf_counter() - clock
    batch_cpu = meter.stop()
    print(f"set-based: {state['done']} accounts in {batch_seconds:.2f} s "
          f"({state['done'] / batch_seconds:,.0f}/s; {state['events_emitted']} margin events); "
          f"{common.describe_cpu(batch_cpu)}")

    sample = rng.sample([f"acct-{n:06d}" for n in range(args.accounts)],
                        min(args.sample, args.accounts))
    vacuum()
    meter = common.CpuMeter()
    sample_seconds = per_account(sample, args.timeout)
    sample_cpu = meter.stop()
    extrapolated = sample_seconds * args.accounts / len(sample)
    print(f"per account: {len(sample)} tasks in {sample_seconds:.2f} s "
          f"({len(sample) / sample_seconds:,.0f}/s) -> {extrapolated:.1f} s for "
          f"{args.accounts}; {common.describe_cpu(sample_cpu)}")
    ratio = extrapolated / batch_seconds
    print(f"ratio: {ratio:.1f}x (target >= 20x); full recompute {batch_seconds:.2f} s "
          f"(target <= 10 s)")
    note = common.contention_note(batch_cpu, sample_cpu)
    if note:
        print(note)
    return {
        "accounts": args.accounts, "positions": positions,
        "chunk_size": int(env.get("RISK_BATCH_CHUNK_SIZE", "1000")),
        "set_based_seconds": round(batch_seconds, 3),
        "set_based_accounts_per_second": round(state["done"] / batch_seconds, 1),
        "set_based_margin_events": state["events_emitted"],
        "per_account_sample": len(sample), "per_account_seconds": round(sample_seconds, 3),
        "per_account_extrapolated_seconds": round(extrapolated, 1),
        "ratio": round(ratio, 1), "cpu_set_based": batch_cpu, "cpu_per_account": sample_cpu,
        "service_cpu_ms_per_account_set_based": common.service_cpu_ms_per_op(batch_cpu,
                                                                             state["done"]),
        "service_cpu_ms_per_account_per_task": common.service_cpu_ms_per_op(sample_cpu,
                                                                            len(sample)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    stack = RiskStack(args.chunk_size)
    try:
        with common.signals_as_interrupt():
            env = stack.start()
            stack.spawn_worker(args.concurrency)
            result = run(args, env)
        out = DATA_DIR / "result.json"
        out.write_text(json.dumps(result, indent=2))
        print(f"wrote {out}")
        return 0
    except (common.BenchError, KeyboardInterrupt) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.close()


class RiskStack:
    """Private servers under .fusion/bench-risk, a fresh database, one worker; close() undoes
    all of it."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size
        self.database_url: str | None = None
        self.worker: common.Worker | None = None
        self.env: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        import os  # noqa: PLC0415

        import redis  # noqa: PLC0415

        DATA_DIR.mkdir(parents=True, exist_ok=True)
        server = common.devstack.ensure_postgres(DATA_DIR)
        broker = common.devstack.ensure_redis(DATA_DIR)
        backend = broker.rsplit("/", 1)[0] + "/1"
        common.track_private_servers(DATA_DIR)  # PostgreSQL and Redis count as the stack's
        self.database_url = common.create_database(server)
        env = {"DATABASE_URL": self.database_url, "CELERY_BROKER_URL": broker,
               "CELERY_RESULT_BACKEND": backend, "LOG_LEVEL": "WARNING",
               "RISK_BATCH_CHUNK_SIZE": str(self.chunk_size)}
        os.environ.update(env)
        self.env = env
        from alembic import command  # noqa: PLC0415
        from alembic.config import Config  # noqa: PLC0415

        from app.config import get_settings  # noqa: PLC0415

        get_settings.cache_clear()
        command.upgrade(Config(str(ROOT / "alembic.ini")), "heads")
        for url in {broker, backend}:
            redis.Redis.from_url(url).flushdb()  # ours alone: leftovers of an interrupted run
        return env

    def spawn_worker(self, concurrency: int) -> None:
        import os  # noqa: PLC0415

        # The readiness probe (maintenance.noop) travels on the settlement queue.
        self.worker = common.Worker(DATA_DIR / "worker.log", concurrency=concurrency,
                                    queues="risk,batch,settlement")
        self.worker.start({**os.environ, **self.env})
        if self.worker.process is not None:
            common.OWN_ROOTS[self.worker.process.pid] = "worker"

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        try:
            from app.persistence.db import get_engine  # noqa: PLC0415

            get_engine().dispose()
            if self.database_url:
                common.drop_database(self.database_url)
        finally:
            common.devstack.stop_all(DATA_DIR)


if __name__ == "__main__":
    sys.exit(main())
