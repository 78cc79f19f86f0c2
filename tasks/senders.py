"""How settlement, the bridge, alerts and replays put tasks on the broker, in one module: a
stored command's task, a batch of settlement commands, an inbound Pub/Sub event (one or a
batch in one round trip), an alert delivery, a replayed dead letter. (Compliance and risk
keep their few senders beside their tasks, in tasks/compliance.py and tasks/risk.py.)

Senders name tasks by their stable `area.verb` and never import task modules, so a producer
(gunicorn, the bridge, the CLI) loads no task code.
"""

from __future__ import annotations

from collections.abc import Sequence

from kombu.messaging import Producer

from app.messaging.routing import Routed
from app.services import fleet
from app.services.dead_letters import TaskResend
from tasks.broker_client import broker_redis
from tasks.celery_app import celery_app

# Fail fast to the caller (the bridge nacks, the sweeper retries later) instead of blocking.
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.5,
                     "interval_max": 1.0}


def send_command_task(task_name: str, command_id: str) -> str:
    """Enqueue the task that runs a stored command; the command id is the task id."""
    celery_app.send_task(task_name, kwargs={"command_id": command_id}, task_id=command_id)
    return command_id


def send_settle_batch(command_ids: Sequence[str], batch_id: str) -> str:
    """Enqueue one settle_batch task for stored commands; if the send is lost, the sweeper
    re-sends each command that stays `received`. The task id names the batch and its first
    command, so each chunk of a batch has its own."""
    task_id = f"settle-batch:{batch_id}:{command_ids[0]}"
    celery_app.send_task("settlement.settle_batch", task_id=task_id,
                         kwargs={"command_ids": list(command_ids), "batch_id": batch_id},
                         argsrepr="()", kwargsrepr=f"{{'batch_id': {batch_id!r}, "
                                                   f"'commands': {len(command_ids)}}}")
    return task_id


def send_delivery(task_name: str, delivery_id: str) -> str:
    """Enqueue one alert delivery (webhook or email); a lost send is picked up again by
    alerts.release_held."""
    return str(celery_app.send_task(task_name, kwargs={"delivery_id": delivery_id}).id)


def send_routed(routed: Routed, producer: Producer | None = None) -> str:
    """Enqueue an inbound event; returns once the broker accepted it, raises if it did not."""
    event = routed.event
    # A short repr: the default renders the whole payload into the message headers (CPU per
    # send, and payload data where monitoring tools display it).
    summary = f"{{'event_type': {event['event_type']!r}, 'dedup_key': {event['dedup_key']!r}}}"
    celery_app.send_task(routed.task_name, task_id=routed.task_id, queue=routed.queue,
                         kwargs={"event": event, "message_id": event["message_id"]},
                         argsrepr="()", kwargsrepr=summary, producer=producer,
                         retry=True, retry_policy=SEND_RETRY_POLICY)
    return routed.task_id


def send_routed_batch(batch: Sequence[Routed]) -> None:
    """Enqueue several inbound events in one broker round trip (a kombu publish batch: one
    Redis pipeline); returns once the broker accepted all of them, raises if it may not have."""
    with celery_app.producer_or_acquire() as producer, producer.batch(max_size=len(batch) + 1):
        for routed in batch:
            send_routed(routed, producer)


def send_replay(target: Routed | TaskResend) -> str:
    """Send a replayed dead letter: a routed Pub/Sub event, or a quarantined task again."""
    if isinstance(target, Routed):
        return send_routed(target)
    client = broker_redis()
    if client is not None:  # a fresh count: the replay gets its full number of deliveries
        client.delete(fleet.delivery_key(target.task_id, 0), fleet.quarantine_key(target.task_id))
    celery_app.send_task(target.task_name, args=target.args, kwargs=target.kwargs,
                         task_id=target.task_id, queue=target.queue)
    return target.task_id
