"""Reference drains: how fast a stock Celery worker and a Dramatiq worker empty a queue of
no-op tasks on the same Redis, with no project code at all.

They are the yardsticks of issue 17: the project's settlement path is reported as a ratio of
them. Each drain enqueues N no-ops first, then starts the worker and times to
the moment the last message is acknowledged (queue and unacked store empty); the clock starts
when the worker takes its first message, so its start-up is left out and broker round trips
and per-message worker cost are what is measured.

    .venv/bin/python bench/reference_drains.py --broker redis://127.0.0.1:6379/9 --tasks 5000

Stock Celery runs with the project's delivery flags (JSON, acks_late, prefetch 1, prefork
-c CONCURRENCY) and kombu's default Redis transport. Dramatiq runs CONCURRENCY processes with
its default threads per process, as a user picking it for speed would.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import redis

STOCK_CELERY_APP = textwrap.dedent("""
    from celery import Celery

    app = Celery("stock", broker={broker!r})
    app.conf.update(task_serializer="json", accept_content=["json"], task_acks_late=True,
                    worker_prefetch_multiplier=1, task_ignore_result=True,
                    task_default_queue={queue!r}, worker_hijack_root_logger=False)

    @app.task(name="noop")
    def noop(n):
        return None
""")

DRAMATIQ_APP = textwrap.dedent("""
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    dramatiq.set_broker(RedisBroker(url={broker!r}, namespace={namespace!r}))

    @dramatiq.actor(queue_name={queue!r}, max_retries=0)
    def noop(n):
        return None
""")


@dataclass(frozen=True)
class Drain:
    name: str
    tasks: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.tasks / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"{self.name}: {self.tasks} no-ops in {self.seconds:.2f} s "
                f"= {self.per_second:,.0f}/s")


def _wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


def _env(where: Path) -> dict[str, str]:
    # Celery prefers CELERY_BROKER_URL from the environment (set for the project's processes
    # by bench/run.py) to the broker the app names: the yardstick must use its own.
    env = {k: v for k, v in os.environ.items()
           if k not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    return {**env, "PYTHONPATH": str(where)}


def _module_dir(source: str, name: str) -> Path:
    where = Path(tempfile.mkdtemp(prefix="fusion-drain-"))
    (where / f"{name}.py").write_text(source)
    return where


def stock_celery_drain(broker: str, tasks: int, concurrency: int = 2,
                       timeout: float = 300) -> Drain:
    queue = f"stock-noop-{os.getpid()}"
    where = _module_dir(STOCK_CELERY_APP.format(broker=broker, queue=queue), "stock_app")
    client = redis.Redis.from_url(broker)
    env = _env(where)
    sender = subprocess.run(
        [sys.executable, "-c", "import stock_app\n"
         "with stock_app.app.producer_or_acquire() as p:\n"
         f"    for i in range({tasks}): stock_app.noop.apply_async((i,), producer=p)"],
        env=env, cwd=where, check=True, capture_output=True, timeout=timeout)
    del sender
    assert client.llen(queue) == tasks, "the stock queue does not hold every no-op"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "stock_app", "worker", "-Q", queue, "-c",
         str(concurrency), "-P", "prefork", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "WARNING"], env=env, cwd=where,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until(lambda: client.llen(queue) < tasks, timeout, "the first message taken")
        started = time.monotonic()
        # kombu keeps reserved-but-unacked messages in the `unacked` hash until the ack.
        _wait_until(lambda: client.llen(queue) == 0 and client.hlen("unacked") == 0,
                    timeout, "the stock Celery worker to drain")
        seconds = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        client.delete(queue)
        shutil.rmtree(where, ignore_errors=True)
    return Drain("stock Celery no-op drain", tasks, seconds)


def dramatiq_drain(broker: str, tasks: int, processes: int = 2, timeout: float = 300) -> Drain:
    if shutil.which("dramatiq", path=str(Path(sys.executable).parent)) is None:
        raise RuntimeError("dramatiq is not installed: pip install -e '.[dev]'")
    namespace, queue = f"fusion-bench-{os.getpid()}", "noop"
    where = _module_dir(DRAMATIQ_APP.format(broker=broker, namespace=namespace, queue=queue),
                        "dramatiq_app")
    client = redis.Redis.from_url(broker)
    env = _env(where)
    subprocess.run(
        [sys.executable, "-c", "import dramatiq_app\n"
         f"for i in range({tasks}): dramatiq_app.noop.send(i)"],
        env=env, cwd=where, check=True, capture_output=True, timeout=timeout)
    messages = f"{namespace}:{queue}.msgs"  # the broker's hash of messages not yet acked
    assert client.hlen(messages) == tasks, "the Dramatiq queue does not hold every no-op"
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "dramatiq"), "dramatiq_app", "--processes",
         str(processes)], env=env, cwd=where, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        _wait_until(lambda: client.hlen(messages) < tasks, timeout, "the first message acked")
        started = time.monotonic()
        _wait_until(lambda: client.hlen(messages) == 0, timeout, "the Dramatiq worker to drain")
        seconds = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
        shutil.rmtree(where, ignore_errors=True)
    return Drain(f"Dramatiq no-op drain ({processes} processes)", tasks, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="a Redis URL with a spare database")
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    for drain in (stock_celery_drain(args.broker, args.tasks, args.concurrency),
                  dramatiq_drain(args.broker, args.tasks, args.concurrency)):
        print(drain.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
