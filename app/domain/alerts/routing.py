"""Which channels an alert goes to, how a webhook body is signed, and when a failure retries."""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    HELD = "held"  # quiet hours: sent when they end
    DELIVERING = "delivering"  # an attempt is in flight (a lease: see next_attempt_at)
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    EXHAUSTED = "exhausted"
    SKIPPED = "skipped"  # nothing to send to (no email address for the account)

    @property
    def in_progress(self) -> bool:
        return self in (DeliveryStatus.PENDING, DeliveryStatus.HELD,
                        DeliveryStatus.DELIVERING, DeliveryStatus.RETRYING)


SEVERITIES = ("critical", "high", "medium", "low")

# DOMAIN.md §5 (orig.): critical and high reach a person and a system, the rest a person only.
_CHANNELS: dict[str, tuple[Channel, ...]] = {
    "critical": (Channel.EMAIL, Channel.WEBHOOK),
    "high": (Channel.EMAIL, Channel.WEBHOOK),
    "medium": (Channel.EMAIL,),
    "low": (Channel.EMAIL,),
}

MAX_ATTEMPTS = 5
# The wait after attempt n is BACKOFF_SECONDS[n - 1]; with 5 attempts the 16 s step is never
# reached, it is kept so the schedule reads as the spec states it.
BACKOFF_SECONDS = (1, 2, 4, 8, 16)

SIGNATURE_HEADER = "X-Fusion-Prime-Signature"
EVENT_TYPE_HEADER = "X-Fusion-Prime-Event-Type"
DELIVERY_ID_HEADER = "X-Fusion-Prime-Delivery-ID"
ATTEMPT_HEADER = "X-Fusion-Prime-Attempt"


def channels_for(severity: str) -> tuple[Channel, ...]:
    """Channels for a severity; an unknown severity is treated as the most severe, because
    dropping a margin alert is worse than sending one too many."""
    return _CHANNELS.get(severity.lower(), _CHANNELS["critical"])


def is_critical(severity: str) -> bool:
    return severity.lower() not in ("high", "medium", "low")


def sign(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body under the subscription's secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)


def retry_after(attempt: int, *, max_attempts: int = MAX_ATTEMPTS,
                base_seconds: float = 1.0) -> float | None:
    """Seconds to wait after failed attempt `attempt` (1-based); None once attempts are spent."""
    if attempt >= max_attempts:
        return None
    step = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
    return step * base_seconds


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300
