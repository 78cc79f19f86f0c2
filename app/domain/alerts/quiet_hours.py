"""Quiet hours: a daily window, in the account's own timezone, that may cross midnight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time
    timezone: str

    def active(self, now: datetime) -> bool:
        """Whether `now` (aware) falls in the window. start == end is an empty window."""
        local = now.astimezone(ZoneInfo(self.timezone)).time().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        # Crosses midnight (22:00-07:00): late evening or early morning.
        return local >= self.start or local < self.end

    def ends_after(self, now: datetime) -> datetime:
        """The first end of the window after `now`, as an aware datetime in `now`'s zone."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        candidate = datetime.combine(local.date(), self.end, tzinfo=zone)
        while candidate <= local:
            candidate = datetime.combine(candidate.date() + timedelta(days=1), self.end,
                                         tzinfo=zone)
        return candidate.astimezone(now.tzinfo)


def hold_until(quiet: QuietHours | None, *, critical: bool, now: datetime) -> datetime | None:
    """When a non-critical notification may go out, or None to send it now."""
    if quiet is None or critical or not quiet.active(now):
        return None
    return quiet.ends_after(now)
