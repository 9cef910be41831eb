"""{% held_recheck %}: on a held delivery or problem, when it is looked at again, and a "Check now" button."""

from django import template

from connector.pipeline.recheck import checkable, next_check_at

register = template.Library()


@register.inclusion_tag("held/recheck.html", takes_context=True)
def held_recheck(context, *, reason: str, team_id: str = "", channel_id: str = ""):
    request = context["request"]
    can_check = checkable(reason)
    return {
        "checkable": can_check, "reason": reason, "channel_id": channel_id,
        "next_check": next_check_at(reason=reason, team_id=team_id, channel_id=channel_id) if can_check else None,
        "can_change": context.get("can_change", False), "csrf_token": context.get("csrf_token"),
        "back": request.get_full_path(),
    }
