"""A tenant's clock: its IANA time zone as a ZoneInfo (UTC when the stored name is unknown), and its local
date and time now. Scheduled work (the daily overdue check, digests) runs on the tenant's clock."""

import zoneinfo
from datetime import date, datetime

from django.utils import timezone

UTC = zoneinfo.ZoneInfo("UTC")


def tenant_zone(tenant) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(tenant.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def tenant_now(tenant) -> datetime:
    return timezone.now().astimezone(tenant_zone(tenant))


def tenant_today(tenant) -> date:
    return tenant_now(tenant).date()
