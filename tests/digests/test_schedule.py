"""When a digest is next due, on the tenant's clock, across days, weekdays and daylight-saving changes."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from digests.schedule import next_occurrence

LA = ZoneInfo("America/Los_Angeles")
AUCKLAND = ZoneInfo("Pacific/Auckland")


@pytest.mark.parametrize(("frequency", "weekday", "at", "zone", "after", "expected"), [
    # Later today, local.
    ("daily", None, time(9, 0), LA, datetime(2026, 3, 9, 15, 0, tzinfo=UTC), datetime(2026, 3, 9, 16, 0, tzinfo=UTC)),
    # Exactly at the time: the next day (strictly after).
    ("daily", None, time(9, 0), LA, datetime(2026, 3, 9, 16, 0, tzinfo=UTC), datetime(2026, 3, 10, 16, 0, tzinfo=UTC)),
    # The local date is already tomorrow in Auckland.
    ("daily", None, time(9, 0), AUCKLAND, datetime(2026, 3, 9, 12, 0, tzinfo=UTC),
     datetime(2026, 3, 9, 20, 0, tzinfo=UTC)),
    # Spring forward in Los Angeles (Mar 8, 2026): 02:30 does not exist; it is sent at 03:30 PDT.
    ("daily", None, time(2, 30), LA, datetime(2026, 3, 8, 8, 0, tzinfo=UTC), datetime(2026, 3, 8, 10, 30, tzinfo=UTC)),
    # Across the change, 09:00 stays 09:00 local: 17:00 UTC before it, 16:00 after.
    ("daily", None, time(9, 0), LA, datetime(2026, 3, 7, 18, 0, tzinfo=UTC), datetime(2026, 3, 8, 16, 0, tzinfo=UTC)),
    # Weekly on Monday, from a Tuesday: six days on.
    ("weekly", 0, time(8, 0), LA, datetime(2026, 3, 10, 20, 0, tzinfo=UTC), datetime(2026, 3, 16, 15, 0, tzinfo=UTC)),
    # Weekly on Sunday in Auckland, where it is already Sunday morning.
    ("weekly", 6, time(18, 0), AUCKLAND, datetime(2026, 3, 14, 20, 0, tzinfo=UTC),
     datetime(2026, 3, 15, 5, 0, tzinfo=UTC)),
])
def test_next_occurrence(frequency, weekday, at, zone, after, expected):
    assert next_occurrence(frequency=frequency, weekday=weekday, at=at, zone=zone, after=after) == expected
