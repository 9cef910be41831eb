"""Applying an edited draft to a saved object, and the {field: [before, after]} the activity log records."""

from collections.abc import Callable, Iterable
from typing import Any


def changes_apply(*, target: Any, draft: Any, snapshot: Callable[[Any], dict], fields: Iterable[str]) -> dict:
    """Copies `fields` from `draft` (a validated, unsaved copy with the edit applied) onto `target` when their
    snapshots differ. Returns {name: [before, after]} for each snapshot value that changed; empty, with
    `target` untouched, when the edit changes nothing (the caller then neither saves nor logs).

    `snapshot` gives what the log shows (e.g. a time as "09:00"), so the comparison is the log's too."""
    before, after = snapshot(target), snapshot(draft)
    changes = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
    if changes:
        for name in fields:
            setattr(target, name, getattr(draft, name))
    return changes
