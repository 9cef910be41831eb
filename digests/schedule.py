"""When a digest is next due: the first tenant-local occurrence of its day and time after a moment."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digests.models import Frequency

DAYS_AHEAD = 8  # a weekly digest recurs within 7 days; one more covers "later today" already passed


def next_occurrence(*, frequency: str, weekday: int | None, at: time, zone: ZoneInfo, after: datetime) -> datetime:
    """The first local `at` (on `weekday` for weekly digests) strictly after `after`, in UTC.

    A local time that a daylight-saving change skips is taken with the offset before the change (02:30 on
    the spring-forward day is sent at 03:30); a repeated one, at its first occurrence.
    """
    start = after.astimezone(zone).date()
    for offset in range(DAYS_AHEAD):
        day = start + timedelta(days=offset)
        if frequency == Frequency.WEEKLY and day.weekday() != weekday:
            continue
        candidate = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if candidate > after:
            return candidate
    raise ValueError(f"No occurrence of {frequency} {weekday} {at} within {DAYS_AHEAD} days")


def period_length(frequency: str) -> timedelta:
    """What a first digest covers, having no previous one to start from."""
    return timedelta(days=7) if frequency == Frequency.WEEKLY else timedelta(days=1)
