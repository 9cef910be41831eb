"""Writes of digests: validation shared by the web form and the API, create, change, delete, and the
activity log entries that go with them. The channel must be one of the tenant's workspace, as for rules."""

import re
from datetime import time

from django.db import transaction
from django.utils import timezone

from audit.activity import activity_record
from connector.core.changes import changes_apply
from connector.core.errors import ApplicationError, FieldErrors
from digests.models import NAME_MAX_LENGTH, Digest, Frequency
from digests.schedule import next_occurrence
from routing.channels import channel_chosen
from tenants.models import Tenant
from tenants.zones import tenant_zone

VALIDATION_ERROR = "Validation error"  # as routing.services: the message of every refusal with field errors
DIGEST_FIELDS = ("name", "channel_id", "frequency", "weekday", "time", "enabled")
TIME_FORMAT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")  # "HH:MM", 24-hour



def _time(value, errors: FieldErrors) -> time | None:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    found = TIME_FORMAT.match(str(value or "").strip())
    if not found:
        errors.add("time", "Give a time as HH:MM, 24-hour, e.g. 09:00 or 17:30.")
        return None
    return time(int(found.group(1)), int(found.group(2)))


def digest_build(*, tenant: Tenant, data: dict, digest: Digest | None = None) -> Digest:
    """A validated, unsaved digest: a new one from `data`, or `digest` (not modified) with `data` applied.

    Keys absent from `data` keep the digest's value. Raises ApplicationError("Validation error",
    {"fields": {name: [message, ...]}}) listing every problem at once.
    """
    if digest is not None and digest.tenant_id != tenant.pk:
        raise ApplicationError("Not found.", status=404)
    draft = Digest(tenant=tenant) if digest is None else Digest(**{
        f.attname: getattr(digest, f.attname) for f in Digest._meta.concrete_fields})
    draft._state.adding = digest is None
    errors = FieldErrors()
    given = {k: v for k, v in data.items() if k in DIGEST_FIELDS}

    if "name" in given or digest is None:
        draft.name = str(given.get("name") or "").strip()
        if not draft.name:
            errors.add("name", "Give the digest a name.")
        elif len(draft.name) > NAME_MAX_LENGTH:
            errors.add("name", f"Keep this to {NAME_MAX_LENGTH} characters or fewer.")
    if "frequency" in given or digest is None:
        draft.frequency = str(given.get("frequency") or Frequency.DAILY)
        if draft.frequency not in Frequency.values:
            errors.add("frequency", "Choose daily or weekly.")
    if "weekday" in given:
        weekday = given["weekday"]
        if weekday in (None, ""):
            draft.weekday = None
        elif isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            errors.add("weekday", "Choose a day of the week: 0 (Monday) to 6 (Sunday).")
        else:
            draft.weekday = weekday
    if "frequency" not in errors and "weekday" not in errors:
        if draft.frequency == Frequency.WEEKLY and draft.weekday is None:
            errors.add("weekday", "A weekly digest needs a day of the week.")
        elif draft.frequency == Frequency.DAILY and draft.weekday is not None:
            if "weekday" in given:
                errors.add("weekday", "Only weekly digests have a day of the week: leave it empty.")
            else:  # switched from weekly to daily: the old day no longer applies
                draft.weekday = None
    if "time" in given or digest is None:
        draft.time = _time(given.get("time"), errors)
    if "enabled" in given:
        if not isinstance(given["enabled"], bool):
            errors.add("enabled", "Choose yes or no.")
        else:
            draft.enabled = given["enabled"]
    if "channel_id" in given or digest is None:
        channel = channel_chosen(tenant=tenant, given=given, errors=errors,
                                 current_channel_id=digest.channel_id if digest else None)
        if channel is not None:
            draft.channel_id, draft.channel_name = channel
    if errors:
        raise ApplicationError(VALIDATION_ERROR, {"fields": dict(errors)})
    return draft


def digest_schedule(*, tenant: Tenant, digest: Digest, after=None) -> None:
    """Sets the digest's next send (UTC) from its day and time on the tenant's clock."""
    digest.next_due_at = next_occurrence(frequency=digest.frequency, weekday=digest.weekday, at=digest.time,
                                         zone=tenant_zone(tenant), after=after or timezone.now())


SNAPSHOT_FIELDS = ("name", "channel_id", "channel_name", "frequency", "weekday", "time", "enabled")


def _snapshot(digest: Digest) -> dict:
    values = {name: getattr(digest, name) for name in SNAPSHOT_FIELDS}
    return values | {"time": digest.time.strftime("%H:%M") if digest.time else None}


@transaction.atomic
def digest_create(*, tenant: Tenant, actor, data: dict) -> Digest:
    digest = digest_build(tenant=tenant, data=data)
    digest_schedule(tenant=tenant, digest=digest)
    digest.save()
    activity_record(tenant=tenant, actor=actor, action="digest.created", target=digest.name,
                    details={"digest_id": digest.pk, "digest": _snapshot(digest)})
    return digest


@transaction.atomic
def digest_update(*, tenant: Tenant, actor, digest: Digest, data: dict) -> Digest:
    draft = digest_build(tenant=tenant, data=data, digest=digest)
    changes = changes_apply(target=digest, draft=draft, snapshot=_snapshot, fields=SNAPSHOT_FIELDS)
    if not changes:
        return digest
    if changes.keys() & {"frequency", "weekday", "time", "enabled"}:
        # From now: a digest re-enabled, or moved to an earlier time, does not fire for a moment already past.
        digest_schedule(tenant=tenant, digest=digest)
    digest.save()
    activity_record(tenant=tenant, actor=actor, action="digest.changed", target=digest.name,
                    details={"digest_id": digest.pk, "changes": changes})
    return digest


@transaction.atomic
def digest_delete(*, tenant: Tenant, actor, digest: Digest) -> None:
    if digest.tenant_id != tenant.pk:
        raise ApplicationError("Not found.", status=404)
    details = {"digest_id": digest.pk, "digest": _snapshot(digest)}
    name = digest.name
    digest.delete()
    activity_record(tenant=tenant, actor=actor, action="digest.deleted", target=name, details=details)

