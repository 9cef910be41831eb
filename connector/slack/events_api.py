"""Slack Events API: what an (already verified) event means for our installations.

Quick by design (Slack wants an answer within 3 seconds): one dedupe key in Redis and at most a few
row updates; no Slack call.
"""

import logging

from django.core.cache import cache

from connector.slack import constants
from connector.slack.lifecycle import installations_revoke_for_team
from connector.slack.signals import app_home_opened

logger = logging.getLogger(__name__)

# Year 3000: an event_time beyond it is not a time Slack sent (datetime cannot even hold 1e20 seconds).
MAX_EVENT_TIME = 32503680000


def _first_time(event_id: str) -> bool:
    """Claim the event id (SET NX with expiry). If Redis is down, handle it anyway: handling is idempotent."""
    try:
        return bool(cache.add(f"slack:event:{event_id}", 1, constants.EVENT_DEDUPE_SECONDS))
    except Exception:  # noqa: BLE001 - any cache backend failure
        logger.warning("slack.event_dedupe_unavailable", extra={"event_id": event_id})
        return True


def _forget(event_id: str) -> None:
    try:
        cache.delete(f"slack:event:{event_id}")
    except Exception:  # noqa: BLE001
        logger.warning("slack.event_dedupe_unavailable", extra={"event_id": event_id})


def _event_time(value) -> int | None:
    """Slack's event_time: whole seconds since the epoch. Anything else (text, a list, a float beyond any
    date) is treated as unknown, which only means "no older-than-install check"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 < value < MAX_EVENT_TIME:
        return None
    return int(value)


def _bot_user_ids(event: dict) -> list[str]:
    """The bot user ids in a tokens_revoked event ({"tokens": {"bot": ["U…"], "oauth": [...]}}); strings only."""
    tokens = event.get("tokens")
    bots = tokens.get("bot") if isinstance(tokens, dict) else None
    if not isinstance(bots, list):
        return []
    return [b for b in bots if isinstance(b, str) and b]


def slack_event_handle(*, payload: dict) -> str:
    """Handle one event_callback. Returns what happened: "duplicate", "revoked:<n>", "home" or "ignored".

    The signature proves the body came from Slack, not that it has the shape we expect: anything not
    shaped like an event we handle is logged and ignored (Slack gets its 200 and does not retry).
    """
    event_id = payload.get("event_id")
    event_id = event_id[:200] if isinstance(event_id, str) else ""
    event = payload.get("event")
    team_id = payload.get("team_id")
    if not isinstance(event, dict) or not isinstance(team_id, str) or not team_id:
        logger.info("slack.event_ignored_shape", extra={"event_id": event_id})
        return "ignored"
    event_type = event.get("type") if isinstance(event.get("type"), str) else ""
    if event_id and not _first_time(event_id):
        logger.info("slack.event_duplicate", extra={"event_id": event_id})
        return "duplicate"
    if event_type == "app_home_opened":
        user_id, tab = event.get("user"), event.get("tab", "home")
        if tab != "home" or not isinstance(user_id, str) or not user_id:
            return "ignored"
        app_home_opened.send(sender=None, team_id=team_id, user_id=user_id)
        return "home"
    event_time = _event_time(payload.get("event_time"))
    try:
        if event_type == "app_uninstalled":
            changed = installations_revoke_for_team(team_id=team_id, event_time=event_time,
                                                    reason="app_uninstalled")
        elif event_type == "tokens_revoked" and _bot_user_ids(event):
            # The lists hold bot *user* ids, not tokens; user (oauth) tokens are not ours to care about.
            changed = installations_revoke_for_team(team_id=team_id, event_time=event_time,
                                                    reason="tokens_revoked", bot_user_ids=_bot_user_ids(event))
        else:
            logger.info("slack.event_ignored", extra={"event_id": event_id, "event_type": event_type[:100]})
            return "ignored"
    except Exception:
        if event_id:
            _forget(event_id)  # let Slack's retry try again
        raise
    logger.info("slack.event_handled", extra={"event_id": event_id, "event_type": event_type,
                                              "team_id": team_id, "installations_revoked": changed})
    return f"revoked:{changed}"
