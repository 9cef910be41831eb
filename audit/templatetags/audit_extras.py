"""Template filters of the activity pages."""

from django import template

from audit.problems import DELIVERY_FIXES, delivery_cause
from connector.core.events import EVENT_LABELS

register = template.Library()


@register.filter
def event_label(name: str) -> str:
    """How people say a FreshBooks event name ("invoice.create" -> "Invoice created")."""
    return EVENT_LABELS.get(name, name)


@register.filter
def reason_words(delivery) -> str:
    """Why a delivery is held or failed, in plain words (the dashboard's wording), else its code."""
    reason = delivery_cause(held_reason=delivery.held_reason, last_error_code=delivery.last_error_code)
    if reason not in DELIVERY_FIXES:
        return reason
    return DELIVERY_FIXES[reason][0].format(channel=delivery.channel_name or delivery.channel_id)
