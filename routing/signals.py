"""Signals routing sends; the delivery pipeline listens (connector/pipeline/receivers.py)."""

from django.dispatch import Signal

# Sent (after commit) when a saved rule's channel changes, so deliveries held for the old channel (e.g.
# channel_not_found, is_archived) can move to the new one. sender=Rule; keyword arguments:
# tenant, rule, old_channel_id, new_channel_id, new_channel_name.
rule_channel_changed = Signal()
