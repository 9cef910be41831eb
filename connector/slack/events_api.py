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


def slack_event_handle(*, payload: dict) -> str:
    """Handle one event_callback. Returns what happened: "duplicate", "revoked:<n>", "home" or "ignored"."""
    event_id = str(payload.get("event_id") or "")
    if event_id and not _first_time(event_id):
        logger.info("slack.event_duplicate", extra={"event_id": event_id})
        return "duplicate"
    event = payload.get("event") or {}
    event_type = event.get("type", "")
    team_id = str(payload.get("team_id") or "")
    if event_type == "app_home_opened":
        user_id = str(event.get("user") or "")
        if event.get("tab", "home") != "home" or not team_id or not user_id:
            return "ignored"
        app_home_opened.send(sender=None, team_id=team_id, user_id=user_id)
        return "home"
    try:
        if event_type == "app_uninstalled" and team_id:
            changed = installations_revoke_for_team(team_id=team_id, event_time=payload.get("event_time"),
                                                    reason="app_uninstalled")
        elif event_type == "tokens_revoked" and team_id and (event.get("tokens") or {}).get("bot"):
            # The lists hold bot *user* ids, not tokens; user (oauth) tokens are not ours to care about.
            changed = installations_revoke_for_team(team_id=team_id, event_time=payload.get("event_time"),
                                                    reason="tokens_revoked",
                                                    bot_user_ids=list(event["tokens"]["bot"]))
        else:
            logger.info("slack.event_ignored", extra={"event_id": event_id, "event_type": event_type})
            return "ignored"
    except Exception:
        if event_id:
            _forget(event_id)  # let Slack's retry try again
        raise
    logger.info("slack.event_handled", extra={"event_id": event_id, "event_type": event_type,
                                              "team_id": team_id, "installations_revoked": changed})
    return f"revoked:{changed}"
