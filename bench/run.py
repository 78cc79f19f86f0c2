"""Run the benchmarks: `.venv/bin/python bench/run.py` (what `make bench` runs).

1. Settlement throughput: N collateral transfers through a real Celery worker (prefork, -c 2),
   against N `maintenance.noop` tasks on the same worker; target ratio >= 0.7.
2. `POST /v1/escrows` under gunicorn at a steady open-loop rate; target p99 <= 20 ms for the API
   tier alone (the worker runs after the load), then the same load beside the worker.
3. Settled commands/s through the batch API against single POSTs (bench/batch_api.py), and the
   yardsticks on the same Redis (bench/reference_drains.py): a stock Celery no-op drain and a
   Dramatiq no-op drain; the batch path and the project's no-op are printed as ratios of them.
4. Sanctions screening in process (bench/compliance_screening.py): recall per kind, false
   blocks, screenings/s per core, index build time against their targets.

Uses DATABASE_URL / CELERY_BROKER_URL when set, else private PostgreSQL and Redis under
.fusion/bench (started and stopped here). Every run gets a fresh database, dropped at the end.
Figures are printed and written to bench/results/latest.json. Exit status: 0 when the run
completed and the ledger checks passed, 1 otherwise; with --strict, 3 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    api_latency,
    batch_api,
    command_latency,
    compliance_screening,
    diagnostics,
    reference_drains,
    settlement_throughput,
)
from bench.common import (  # noqa: E402
    BENCH_DIR,
    RESULTS_DIR,
    BenchError,
    Child,
    Gunicorn,
    Stack,
    Worker,
    contention_note,
    describe_cpu,
    describe_service_cpu,
    free_port,
    fund_accounts,
    ledger_check,
    signals_as_interrupt,
)

TARGET_RATIO = 0.7


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=2000, help="settlement commands")
    parser.add_argument("--noops", type=int, default=2000, help="no-op tasks")
    parser.add_argument("--accounts", type=int, default=200, help="funded customer accounts")
    parser.add_argument("--rate", type=float, default=200.0, help="POST /v1/escrows per second")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds of load")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool size")
    parser.add_argument("--skip", choices=["throughput", "batch", "latency", "references",
                                           "api", "diagnostics", "screening"],
                        action="append",
                        default=[], help="leave out a part (repeatable)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print the top N cProfile entries of POST /v1/escrows and of a "
                             "settlement")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    args = parser.parse_args(argv)
    if not (1 <= args.commands <= 50_000 and 1 <= args.noops <= 50_000):
        parser.error("--commands and --noops must be 1..50000")
    if not (2 <= args.accounts <= 10_000):
        parser.error("--accounts must be 2..10000")
    if not (1 <= args.rate <= 2000 and 1 <= args.duration <= 300 and 0 <= args.warmup <= 60):
        parser.error("--rate 1..2000, --duration 1..300, --warmup 0..60")
    return args


def stage(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def print_throughput(tp: dict[str, Any]) -> None:
    s, n = tp["settlement"], tp["noop"]
    print(f"\n== Settlement throughput (worker -Q settlement -c {tp['concurrency']} -P prefork) ==")
    print(f"  settlement: {s['count']} COLLATERAL_TRANSFER in {s['elapsed_s']:.2f} s "
          f"= {s['per_s']:.1f} commands/s  (enqueue took {s['enqueue_s']:.2f} s; "
          f"settled {s['settled']}, failed {s['failed']}; every task run, those finding "
          f"their command settled by another's unit of work included, after "
          f"{s['drained_s']:.2f} s = {s['per_s_drained']:.1f}/s)")
    if s["failure_reasons"]:
        print(f"    failure reasons: {s['failure_reasons']}")
    print(f"  no-op:      {n['count']} maintenance.noop in {n['elapsed_s']:.2f} s "
          f"= {n['per_s']:.1f} tasks/s  (enqueue took {n['enqueue_s']:.2f} s; "
          f"states {n['states']})")
    print(f"    settlement {describe_cpu(s['cpu'])}")
    print(f"    no-op      {describe_cpu(n['cpu'])}")
    verdict = "OK" if tp["ratio"] >= TARGET_RATIO else "MISSED"
    print(f"  ratio settlement/no-op: {tp['ratio']:.3f}  (target >= {TARGET_RATIO}: {verdict})")
    if tp["cpu_cost_ratio"]:
        print("  CPU per task, system under test (bench process excluded):")
        print(f"    settlement {describe_service_cpu(s['service_cpu_ms_per_op'])}")
        print(f"    no-op      {describe_service_cpu(n['service_cpu_ms_per_op'])}")
        print(f"    -> cost ratio no-op/settlement {tp['cpu_cost_ratio']:.3f} (the throughput "
              "ratio if both were CPU-bound on a machine of their own)")
    p = tp["ping_database"]
    print(f"  reference: {p['count']} maintenance.ping_database (one statement in a unit of "
          f"work) in {p['elapsed_s']:.2f} s = {p['per_s']:.1f} tasks/s  (states {p['states']})")
    print(f"    = {tp['ping_ratio']} of the no-op: the most any task that touches PostgreSQL "
          f"gets here; settlement reaches {tp['settlement_to_ping_ratio']} of it")
    print(f"    CPU per task {describe_service_cpu(p['service_cpu_ms_per_op'])}")
    print(f"  exactly once in this batch: {s['exactly_once']}  (transfers by command status: "
          f"{s['transfers']})")
    if note := contention_note(s["cpu"], n["cpu"]):
        print(f"  {note}")


def print_batch_api(result: dict[str, Any]) -> None:
    print("\n== Settled commands/s through the API (gunicorn -w 2 --threads 4, worker -c 2) ==")
    for label, key in (("single POST /v1/settlement/commands", "single"),
                       ("POST /v1/settlement/command-batches", "batched")):
        r = result[key]
        print(f"  {label:<38} {r['count']} commands in {r['requests']} requests: "
              f"{r['elapsed_s']:.2f} s = {r['per_s']:.1f} settled/s (posting took "
              f"{r['post_s']:.2f} s; settled {r['settled']}, failed {r['failed']}; "
              f"every task run after {r['drained_s']:.2f} s)")
        print(f"    CPU per settled command {describe_service_cpu(r['service_cpu_ms_per_op'])}")
        print(f"    {describe_cpu(r['cpu'])}")
    print(f"  batch API / single POSTs: {result['batch_to_single_ratio']}")
    taking, alone = result["single"], result.get("single_alone")
    print(f"  single POSTs: {taking['settlers']['tasks']} tasks' units of work settled "
          f"{taking['settlers']['commands']} commands ({taking['settlers']['commands_per_task']}"
          " a task: each task takes up to SETTLEMENT_TAKE_WAITING waiting commands)")
    if alone:
        print(f"  single POSTs, tasks not taking waiting commands (SETTLEMENT_TAKE_WAITING=0): "
              f"{alone['count']} in {alone['elapsed_s']:.2f} s = {alone['per_s']:.1f} settled/s "
              f"(settled {alone['settled']}, failed {alone['failed']}; every task run after "
              f"{alone['drained_s']:.2f} s)")
        print(f"    CPU per settled command {describe_service_cpu(alone['service_cpu_ms_per_op'])}")
        print(f"    {describe_cpu(alone['cpu'])}")
        if alone["per_s"]:
            cpu_ratio = ""
            a, t = alone["service_cpu_ms_per_op"], taking["service_cpu_ms_per_op"]
            if a and t and t["total"]:
                cpu_ratio = f"; CPU per command without / with: {a['total'] / t['total']:.2f}"
            print(f"  single POSTs, taking / not taking waiting commands: "
                  f"{taking['per_s'] / alone['per_s']:.2f}x settled/s{cpu_ratio}")


def print_references(refs: dict[str, Any], results: dict[str, Any]) -> None:
    """The yardsticks of issue 17 and the project's paths as ratios of them."""
    stock, dramatiq = refs["stock_celery_noop_per_s"], refs["dramatiq_noop_per_s"]
    print(f"\n== Yardsticks: {refs['tasks']} no-ops drained on the same Redis, no project code ==")
    print(f"  stock Celery no-op drain (project flags, kombu's default transport): "
          f"{stock:,.0f}/s")
    print(f"  Dramatiq no-op drain ({refs['processes']} processes):{'':<27}{dramatiq:,.0f}/s")
    batched = results.get("batch_api", {}).get("batched", {}).get("per_s")
    if batched:
        print(f"  batch API settled/s / stock Celery no-op: {batched / stock:.2f}  (target >= 3)")
        print(f"  batch API settled/s / Dramatiq no-op:     {batched / dramatiq:.2f}  "
              "(target >= 1.0, stretch 2)")
    noop = results.get("throughput", {}).get("noop", {}).get("per_s")
    if noop:
        print(f"  project no-op / stock Celery no-op:       {noop / stock:.2f}  "
              "(target >= 0.85: the project's per-task hooks cost at most 15 %)")


def print_api(api: dict[str, Any], setup: str) -> None:
    lat, svc, lag = api["latency_ms"], api["service_time_ms"], api["send_lag_ms"]
    print(f"\n== POST /v1/escrows at {api['target_rate']:.0f} req/s open loop, "
          f"{api['duration_s']:.0f} s after {api['warmup_s']:.0f} s warm-up "
          f"(gunicorn -w 2 --threads 4 -k gthread), {setup} ==")
    print(f"  requests {api['requests']}, completed {api['completed']}, 202 "
          f"{api['accepted_202']}, errors {api['errors']} {api['statuses']} (not sent by the "
          f"end of the run: {api['not_sent']}), reconnects {api['reconnects']}")
    print(f"  achieved rate (answers inside the window): {api['achieved_rate']:.1f} req/s")
    print(f"  {describe_cpu(api['cpu'])}")
    if api.get("service_cpu_ms_per_request"):
        print("  CPU per accepted request (the worker creating the escrows included): "
              f"{describe_service_cpu(api['service_cpu_ms_per_request'])}")

    def row(name: str, d: dict[str, float]) -> str:
        return (f"  {name:<22} p50 {d.get('p50', 0):7.2f}  p90 {d.get('p90', 0):7.2f}  "
                f"p99 {d.get('p99', 0):7.2f}  p99.9 {d.get('p99.9', 0):7.2f}  "
                f"max {d.get('max', 0):7.2f}  mean {d.get('mean', 0):7.2f}")

    print(row("latency (from due) ms", lat))
    if api.get("latency_is_lower_bound"):
        print(f"    ({api['not_sent']} requests were never sent; each counts with the time it had "
              "waited when the run stopped, so the latency figures are lower bounds)")
    print(row("service time ms", svc))
    print(row("send lag ms", lag))
    verdict = "OK" if api["p99_ok"] else "MISSED"
    print(f"  p99 <= {api['p99_target_ms']:.0f} ms with no errors: {verdict}")
    if note := contention_note(api["cpu"]):
        print(f"  {note}")
    w = api["worker"]
    print(f"  worker: {w['settled']} escrows created, {w['failed']} failed "
          f"{w['failure_reasons'] or ''}; backlog drained {w['drain_after_load_s']:.1f} s "
          f"after the load ended (complete: {w['complete']})")


def print_diagnostics(diag: dict[str, Any]) -> None:
    e, s = diag["escrow_post"], diag["settlement"]["command"]
    print("\n== In-process diagnostics (no HTTP, no queueing) ==")
    for label, d in (("POST /v1/escrows", e["request"]),
                     ("  same, enqueue stubbed", e["request_without_enqueue"]),
                     ("settle one transfer", s)):
        print(f"  {label:<24} {d['mean_ms']:6.2f} ms, {d['sql_statements']:.1f} SQL statements "
              f"(+ BEGIN and COMMIT; {d['pool_checkouts']:.1f} pool checkouts) "
              f"{d['by_kind']}")
    print(f"  one send_task to the broker: {e['enqueue_one_task_ms']:.2f} ms")
    if "profile" in e:
        print(e["profile"])
    if "profile" in diag["settlement"]:
        print(diag["settlement"]["profile"])


def print_checks(label: str, check: dict[str, Any]) -> None:
    print(f"\n== Ledger integrity ({label}) ==")
    print(f"  every command settled exactly once: {check['ok']}  (posted+pending balances sum "
          f"to zero per asset: {check['unbalanced_assets'] == 0}; accounts not matching their "
          f"transfers: {check['accounts_not_matching_transfers']}; transfers "
          f"{check['transfers']} == single-transfer commands settled "
          f"{check['single_transfer_commands_settled']}; duplicate outcome events: "
          f"{check['commands_with_duplicate_outcome_events']}; commands settled "
          f"{check['commands_settled']}, failed {check['commands_failed']}, not terminal "
          f"{check['commands_not_terminal']})")


def bench(args: argparse.Namespace, stack: Stack, results: dict[str, Any]) -> None:
    stage("starting services (DATABASE_URL / CELERY_BROKER_URL if set, else .fusion/bench)")
    env = stack.start()
    results["services"] = {"private": stack.started_private,
                           "broker": env["CELERY_BROKER_URL"].split("@")[-1]}
    stage(f"database ready ({env['DATABASE_URL'].rsplit('/', 1)[-1]}); starting worker")
    def start_worker(env: dict[str, str] | None = None) -> Child:
        return stack.spawn(Worker(BENCH_DIR / "logs" / "worker.log",
                                  concurrency=args.concurrency, env=env))

    worker = start_worker()

    stage(f"funding {args.accounts} accounts")
    accounts = fund_accounts("bench-acct", args.accounts, "1000000.00")
    payers = fund_accounts("bench-payer", 50, "1000000.00")
    checks: dict[str, Any] = {}

    if "throughput" not in args.skip:
        stage(f"throughput: {args.commands} settlement commands, then {args.noops} no-ops")
        tp = settlement_throughput.run(
            settlement_throughput.Config(commands=args.commands, noops=args.noops), accounts)
        tp["concurrency"] = args.concurrency
        results["throughput"] = tp
        print_throughput(tp)
        checks["after_throughput"] = ledger_check()
        print_checks("after throughput", checks["after_throughput"])

    port = 0
    if {"batch", "latency", "api"} - set(args.skip):
        port = free_port()
        stage(f"starting gunicorn on 127.0.0.1:{port}")
        stack.spawn(Gunicorn(BENCH_DIR / "logs" / "gunicorn.log", port))

    if "batch" not in args.skip:
        stage("batch API against single POSTs, settled commands/s")
        results["batch_api"] = batch_api.run(batch_api.Config(), port, accounts)
        stage("single POSTs again, the worker's tasks not taking waiting commands")
        worker.stop()
        worker = start_worker({"SETTLEMENT_TAKE_WAITING": "0"})
        results["batch_api"]["single_alone"] = batch_api.run_single(
            batch_api.Config(), port, accounts, "single-alone")
        worker.stop()
        worker = start_worker()
        print_batch_api(results["batch_api"])
        checks["after_batch_api"] = ledger_check()
        print_checks("after the batch API", checks["after_batch_api"])

    if "latency" not in args.skip:
        latency = command_latency.Config()
        stage(f"single POST -> terminal, open loop at {latency.rate:.0f}/s")
        results["command_latency"] = command_latency.run(latency, port, accounts,
                                                         f"{int(time.time())}")
        print(command_latency.describe(results["command_latency"]))

    if "references" not in args.skip:
        stage("yardsticks: stock Celery and Dramatiq no-op drains on the same Redis")
        spare = env["CELERY_BROKER_URL"].rsplit("/", 1)[0] + "/9"
        stock = reference_drains.stock_celery_drain(spare, args.noops * 2, args.concurrency)
        dramatiq = reference_drains.dramatiq_drain(spare, args.noops * 2, args.concurrency)
        results["references"] = {"tasks": args.noops * 2, "processes": args.concurrency,
                                 "stock_celery_noop_per_s": stock.per_second,
                                 "dramatiq_noop_per_s": dramatiq.per_second}
        print_references(results["references"], results)

    if "api" not in args.skip:
        config = api_latency.Config(rate=args.rate, duration=args.duration, warmup=args.warmup)
        # The target is the API tier's: in production the workers run on hosts of their own
        # (docker/k8s), so here the worker is stopped during the load and started after it
        # to run every accepted command. The same load with the worker competing for these
        # two cores follows, for comparison.
        worker.stop()
        stage(f"load, API tier alone: {config.rate:.0f} req/s for "
              f"{config.warmup:.0f}+{config.duration:.0f} s")
        api = api_latency.run(config, port, payers, before_drain=start_worker)
        results["api"] = api
        print_api(api, "the API tier alone; the worker started after the load")
        stage("load, API and worker on the same cores")
        shared = api_latency.run(config, port, payers)
        results["api_colocated"] = shared
        print_api(shared, "the worker running on the same two cores (not the target's setup)")
        checks["after_api"] = ledger_check()
        print_checks("after API load", checks["after_api"])
    results["checks"] = checks

    if "diagnostics" not in args.skip:
        stage("in-process diagnostics")
        try:
            diag = diagnostics.run(api_latency.create_key(), payers[0], accounts, ops=200,
                                   profile_top=args.profile)
        except Exception as exc:  # auxiliary: the measurements above still stand
            results["diagnostics"] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"diagnostics failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            results["diagnostics"] = diag
            print_diagnostics(diag)

    if "screening" not in args.skip:
        stage("sanctions screening: the full SDN list, labelled variants, 100,000 ordinary names")
        results["screening"] = compliance_screening.run()
        print("\n== Sanctions screening (bench/compliance_screening.py) ==")
        print(json.dumps(results["screening"], indent=2))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }
    stack = Stack()
    status = 0
    started = time.monotonic()
    try:
        with signals_as_interrupt():
            try:
                bench(args, stack, results)
            finally:
                with contextlib.suppress(OSError):  # stdout may be a closed pipe by now
                    stage("stopping everything the bench started")
                stack.close()
    except KeyboardInterrupt:
        results["error"] = "interrupted"
        status = 130
    except BenchError as exc:
        results["error"] = str(exc)
        status = 1
    except Exception as exc:  # report it, and still write what was measured
        results["error"] = f"{type(exc).__name__}: {exc}"
        results["traceback"] = traceback.format_exc()
        status = 1
    results["wall_s"] = round(time.monotonic() - started, 1)

    summary = ""
    if status == 0:
        checks_ok = all(c["ok"] for c in results.get("checks", {}).values())
        tp, api = results.get("throughput"), results.get("api")
        complete = (not tp or (tp["settlement"]["complete"] and tp["noop"]["complete"]
                               and tp["ping_database"]["complete"]
                               and tp["settlement"]["exactly_once"]))
        # The escrow backlog is bounded by a timeout; an unfinished drain is reported, not failed.
        screened = results.get("screening")
        latency, refs = results.get("command_latency"), results.get("references")
        batched = results.get("batch_api", {}).get("batched", {}).get("per_s")
        targets = {"ratio": None if not tp else tp["ratio"] >= TARGET_RATIO,
                   "p99": None if not api else api["p99_ok"],
                   "command_p99": None if not latency else latency["p99_ok"],
                   "noop_vs_stock": None if not (tp and refs) else
                   tp["noop"]["per_s"] >= 0.85 * refs["stock_celery_noop_per_s"],
                   "batch_vs_stock": None if not (batched and refs) else
                   batched >= 3 * refs["stock_celery_noop_per_s"],
                   "batch_vs_dramatiq": None if not (batched and refs) else
                   batched >= refs["dramatiq_noop_per_s"],
                   "screening": None if not screened else screened["targets_met"]}
        results["summary"] = {"checks_ok": checks_ok, "complete": complete, "targets": targets}
        summary = (f"\nsummary: integrity {'OK' if checks_ok else 'FAILED'}, runs complete "
                   f"{complete}, targets {targets}, wall {results['wall_s']:.0f} s")
        if not (checks_ok and complete):
            status = 1
        elif args.strict and not all(v for v in targets.values() if v is not None):
            status = 3

    # Results first: the terminal (or a pipe) may be gone by now.
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    with contextlib.suppress(OSError):
        if "traceback" in results:
            print(results["traceback"], file=sys.stderr)
        if status == 130:
            print("\ninterrupted; everything the bench started is stopped", file=sys.stderr)
        elif "error" in results:
            print(f"\nbench failed: {results['error']}", file=sys.stderr)
        if summary:
            print(summary)
        print(f"results written to {args.output}")
    return status


if __name__ == "__main__":
    sys.exit(main())
