"""Scheduled summaries to Slack (digests), and the record of each tenant's daily overdue check.

A digest covers the period since the previous one; `last_sent_at` is where the next period starts and
`next_due_at` (UTC) the next scheduled send, so a send missed while beat was down happens on its next tick.
"""

from django.db import models
from django.db.models import Q

from tenants.models import Tenant, TenantOwned

NAME_MAX_LENGTH = 100


class Frequency(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"),
            (6, "Sunday")]


class Digest(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="digests")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    channel_id = models.CharField(max_length=32)  # a channel of the tenant's Slack workspace
    channel_name = models.CharField(max_length=100, blank=True)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.DAILY)
    weekday = models.PositiveSmallIntegerField(null=True, blank=True, choices=WEEKDAYS)  # weekly only; 0 = Monday
    time = models.TimeField()  # tenant-local
    enabled = models.BooleanField(default=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)  # end of the period the last digest covered
    next_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(frequency="daily", weekday__isnull=True)
                | Q(frequency="weekly", weekday__gte=0, weekday__lte=6),
                name="digest_weekday_for_weekly_only",
            ),
        ]
        indexes = [models.Index(fields=["enabled", "next_due_at"], name="digest_due")]

    def __str__(self) -> str:
        return self.name


class OverdueScan(TenantOwned):
    """One row per tenant and local day the daily overdue check ran (or is running): the claim that makes
    beat's check happen once a day, and what it found."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="overdue_scans")
    day = models.DateField()  # the tenant-local date scanned
    found = models.PositiveIntegerField(default=0)  # overdue invoices FreshBooks listed
    new = models.PositiveIntegerField(default=0)  # of which not alerted before (new alerts made)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="overdue_scan_once_a_day")]

    def __str__(self) -> str:
        return f"overdue scan {self.tenant_id} {self.day}"
