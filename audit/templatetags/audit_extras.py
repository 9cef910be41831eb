"""Template filters of the activity pages."""

from django import template

from connector.events import EVENT_LABELS

register = template.Library()


@register.filter
def event_label(name: str) -> str:
    """How people say a FreshBooks event name ("invoice.create" -> "Invoice created")."""
    return EVENT_LABELS.get(name, name)
