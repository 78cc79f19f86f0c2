"""The refusal of an inbound message, for the dead-letter store."""

from __future__ import annotations


class Undecodable(Exception):
    """The message cannot be accepted; `reason` is a stable code, `detail` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail
