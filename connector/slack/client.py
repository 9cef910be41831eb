"""The only module that speaks to Slack: a thin layer over slack-sdk's WebClient raising typed errors.

Every call goes to settings.SLACK_API_URL with a timeout and no retry handler: nothing here sleeps or
retries by itself (a 429 becomes RateLimited and the caller reschedules). The one exception is
`token_expired`, answered by refreshing the token once under a row lock and repeating the call.
"""

import functools
import http.client
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.error import URLError

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError, SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation import TokenRotator
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from connector.slack import constants
from connector.slack.errors import (
    CONNECTION_FAILED,
    HTTP_SERVER_ERROR,
    NO_RESPONSE,
    NON_JSON_RESPONSE,
    TOKEN_EXPIRED,
    DestinationBroken,
    InstallationDead,
    OutcomeUnknown,
    PayloadBug,
    RateLimited,
    SlackError,
    Transient,
    error_for,
)
from connector.slack.lifecycle import installation_mark_revoked
from connector.slack.models import SlackInstallation

logger = logging.getLogger(__name__)

# The SDK logs request bodies at DEBUG (tokens, client secrets, message text) and every network failure
# at ERROR; we log our own structured lines instead, so its logger only speaks for real emergencies.
_sdk_logger = logging.getLogger("connector.slack.sdk")
_sdk_logger.setLevel(logging.CRITICAL)

# slack-sdk turns a body that is not JSON into this error string (web/internal_utils.py).
_SDK_NON_JSON_PREFIX = "Received a response in a non-JSON format"
# Rotating "now", whatever the expiry says: a margin larger than any token's lifetime.
_FORCE_REFRESH_MINUTES = 10 * 365 * 24 * 60


RATE_LIMIT_SCOPES = {"chat.postMessage": "channel", "chat.update": "edits", "conversations.replies": "lookup"}


@dataclass(frozen=True)
class PostResult:
    channel: str
    ts: str


@functools.lru_cache(maxsize=1024)
def _client_for(base_url: str, token: str | None, timeout: int) -> WebClient:
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[], logger=_sdk_logger)


def _web_client(token: str | None = None) -> WebClient:
    """One client per token (installation) per process, shared by the worker's threads: a WebClient holds
    no per-call state (it is configured once and each call builds its own request)."""
    return _client_for(settings.SLACK_API_URL, token, constants.HTTP_TIMEOUT_SECONDS)


def _retry_after(headers) -> int | None:
    for name in ("Retry-After", "retry-after"):
        value = (headers or {}).get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(0, int(float(value)))
            except (TypeError, ValueError):
                return None
    return None


def _from_api_error(exc: SlackApiError, *, method: str) -> SlackError:
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or "")
    if status == 429 or code == "ratelimited":
        # chat.postMessage is limited per channel; every other method per method and workspace. Edits and
        # thread lookups have their own budgets: their 429 must not stop the workspace's posts.
        scope = RATE_LIMIT_SCOPES.get(method, "team")
        return error_for("ratelimited", status, retry_after=_retry_after(response.headers), scope=scope)
    if code.startswith(_SDK_NON_JSON_PREFIX) or not isinstance(response.data, dict):
        return Transient(NON_JSON_RESPONSE, status)
    if status >= 500:
        return OutcomeUnknown(code, status) if code == "fatal_error" else Transient(code or HTTP_SERVER_ERROR, status)
    return error_for(code or "unknown_error", status)


def _from_exception(exc: Exception, *, method: str) -> SlackError:
    if isinstance(exc, SlackError):
        return exc
    if isinstance(exc, SlackApiError):
        return _from_api_error(exc, method=method)
    if isinstance(exc, URLError):
        # urllib wraps failures while connecting or sending: Slack did not get the whole request.
        return Transient(CONNECTION_FAILED)
    if isinstance(exc, (TimeoutError, ConnectionError, http.client.HTTPException, OSError)):
        # Raised while waiting for or reading the answer: the request went out and may have worked.
        return OutcomeUnknown(NO_RESPONSE)
    if isinstance(exc, SlackRequestError):
        return PayloadBug("invalid_request")
    raise exc


def _send(call: Callable[[WebClient], SlackResponse], *, method: str, token: str | None) -> SlackResponse:
    try:
        return call(_web_client(token))
    except (SlackApiError, SlackRequestError, OSError, http.client.HTTPException) as exc:
        error = _from_exception(exc, method=method)
        log = logger.info if isinstance(error, (RateLimited, Transient)) else logger.warning
        log("slack.call_failed", extra={"method": method, "error_code": error.code,
                                        "error_class": type(error).__name__, "http_status": error.http_status})
        raise error from exc


# --- Tokens ---------------------------------------------------------------------------------------------

def _copy_token(source: SlackInstallation, target: SlackInstallation) -> None:
    target.bot_token = source.bot_token
    target.refresh_token = source.refresh_token
    target.expires_at = source.expires_at


def _needs_refresh(installation: SlackInstallation) -> bool:
    if installation.expires_at is None or not installation.refresh_token:
        return False
    margin = timedelta(minutes=constants.TOKEN_REFRESH_MARGIN_MINUTES)
    return installation.expires_at <= timezone.now() + margin


def _rotate(installation: SlackInstallation, *, force: bool, failed_token: str | None = None) -> str:
    """Refresh the bot token under a row lock and save the new pair atomically (refresh tokens are
    single-use: two workers refreshing at once would lose the pair)."""
    with transaction.atomic():
        row = SlackInstallation.objects.select_for_update().get(pk=installation.pk)
        if not row.is_active:
            raise InstallationDead(row.status_reason or "token_revoked")
        if failed_token is not None and row.bot_token != failed_token:
            _copy_token(row, installation)  # another worker refreshed while we waited for the lock
            return row.bot_token
        if not row.refresh_token or row.expires_at is None:
            if force:
                raise InstallationDead(TOKEN_EXPIRED)
            return row.bot_token
        bot = Bot(team_id=row.team_id, team_name=row.team_name, app_id=row.app_id or None,
                  bot_token=row.bot_token, bot_id=row.bot_id, bot_user_id=row.bot_user_id,
                  bot_scopes=row.scopes, bot_refresh_token=row.refresh_token,
                  bot_token_expires_at=int(row.expires_at.timestamp()), installed_at=row.installed_at.timestamp())
        rotator = TokenRotator(client_id=settings.SLACK_CLIENT_ID, client_secret=settings.SLACK_CLIENT_SECRET,
                               client=_web_client())
        margin = _FORCE_REFRESH_MINUTES if force else constants.TOKEN_REFRESH_MARGIN_MINUTES
        try:
            rotated = rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=margin)
        except SlackTokenRotationError as exc:
            raise _from_exception(exc.api_error, method="oauth.v2.access") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _from_exception(exc, method="oauth.v2.access") from exc
        if rotated is None:  # nothing due, or Slack answered with something other than a bot token
            if force:
                raise InstallationDead(TOKEN_EXPIRED)
            return row.bot_token
        row.bot_token = rotated.bot_token
        row.refresh_token = rotated.bot_refresh_token or ""
        row.expires_at = datetime.fromtimestamp(rotated.bot_token_expires_at, tz=UTC)
        row.save(update_fields=["bot_token", "refresh_token", "expires_at", "updated_at"])
    logger.info("slack.token_rotated", extra={"tenant_id": row.tenant_id, "installation_id": row.pk})
    _copy_token(row, installation)
    return row.bot_token


def installation_token(installation: SlackInstallation) -> str:
    """The installation's bot token, refreshed first when it expires soon (rotation on)."""
    if not installation.is_active or not installation.bot_token:
        raise InstallationDead(installation.status_reason or "token_revoked")
    if _needs_refresh(installation):
        return _rotate(installation, force=False)
    return installation.bot_token


def _with_installation(installation: SlackInstallation, method: str,
                       call: Callable[[WebClient], SlackResponse]) -> SlackResponse:
    """Call with the installation's token; refresh once on token_expired; record a dead installation."""
    try:
        token = installation_token(installation)
        try:
            return _send(call, method=method, token=token)
        except InstallationDead as exc:
            if exc.code != TOKEN_EXPIRED:
                raise
            token = _rotate(installation, force=True, failed_token=token)
            return _send(call, method=method, token=token)
    except InstallationDead as exc:
        if installation.is_active:
            installation_mark_revoked(installation=installation, reason=exc.code)
        raise


# --- Install-time calls (no stored installation yet) ---------------------------------------------------

def slack_oauth_exchange(*, code: str, redirect_uri: str) -> dict:
    """oauth.v2.access with the code from the install callback; returns Slack's answer."""
    response = _send(lambda c: c.oauth_v2_access(client_id=settings.SLACK_CLIENT_ID,
                                                 client_secret=settings.SLACK_CLIENT_SECRET,
                                                 code=code, redirect_uri=redirect_uri),
                     method="oauth.v2.access", token=None)
    return dict(response.data)


def slack_auth_test(*, token: str) -> dict:
    """auth.test for a token not stored yet (install, connect_slack): team, bot user, bot id, and the
    token's scopes (Slack's X-OAuth-Scopes header; "" when absent)."""
    response = _send(lambda c: c.auth_test(), method="auth.test", token=token)
    headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
    scopes = headers.get("x-oauth-scopes", "")
    scopes = scopes[0] if isinstance(scopes, list) else scopes
    return {**response.data, "scopes": ",".join(s.strip() for s in str(scopes).split(",") if s.strip())}


# --- Calls for a stored installation ------------------------------------------------------------------

def slack_test_connection(*, installation: SlackInstallation) -> dict:
    """auth.test with the stored token: {"team", "team_id", "user", "user_id", "bot_id", "url"}."""
    data = _with_installation(installation, "auth.test", lambda c: c.auth_test()).data
    return {key: data.get(key, "") for key in ("team", "team_id", "user", "user_id", "bot_id", "url")}


def slack_auth_revoke(*, installation: SlackInstallation) -> None:
    """auth.revoke: the token stops working at once (the app stays in the workspace until removed there)."""
    token = installation.bot_token
    if not token:
        return
    _send(lambda c: c.auth_revoke(), method="auth.revoke", token=token)


def slack_post_message(*, installation: SlackInstallation, channel_id: str, text: str, blocks: list[dict],
                       metadata: dict, thread_ts: str = "", reply_broadcast: bool = False) -> PostResult:
    """chat.postMessage with link previews off, tagged with `metadata` so the post can be found later; with
    `thread_ts`, a reply in that message's thread (`reply_broadcast`: also shown in the channel)."""
    thread = {"thread_ts": thread_ts, "reply_broadcast": reply_broadcast} if thread_ts else {}
    response = _with_installation(installation, "chat.postMessage", lambda c: c.chat_postMessage(
        channel=channel_id, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False,
        metadata={"event_type": constants.DELIVERY_METADATA_TYPE, "event_payload": metadata}, **thread,
    ))
    return PostResult(channel=response["channel"], ts=response["ts"])


def slack_update_message(*, installation: SlackInstallation, channel_id: str, ts: str, text: str,
                         blocks: list[dict]) -> PostResult:
    """chat.update of a message the app posted (the ts stays). Tier 3; MessageGone when it is not there.
    The message keeps its metadata (the delivery that posted it), so history lookups still find that post."""
    response = _with_installation(installation, "chat.update", lambda c: c.chat_update(
        channel=channel_id, ts=ts, text=text, blocks=blocks))
    return PostResult(channel=response.get("channel") or channel_id, ts=response.get("ts") or ts)


def slack_post_reply(*, installation: SlackInstallation, channel_id: str, thread_ts: str, text: str) -> PostResult:
    """chat.postMessage in the thread of `thread_ts` (the message someone acted on): short result lines."""
    response = _with_installation(installation, "chat.postMessage", lambda c: c.chat_postMessage(
        channel=channel_id, thread_ts=thread_ts, text=text, unfurl_links=False, unfurl_media=False))
    return PostResult(channel=response["channel"], ts=response["ts"])


def slack_publish_home(*, installation: SlackInstallation, user_id: str, view: dict) -> None:
    """views.publish: the user's App Home tab (Tier 4)."""
    _with_installation(installation, "views.publish", lambda c: c.views_publish(user_id=user_id, view=view))


def slack_respond(*, response_url: str, body: dict) -> None:
    """POST to an interaction's or command's response_url (no token: the URL is the credential; Slack
    accepts 5 posts within 30 minutes). Raises Transient, RateLimited or PayloadBug."""
    try:
        answer = WebhookClient(response_url, timeout=constants.HTTP_TIMEOUT_SECONDS, logger=_sdk_logger,
                               retry_handlers=[]).send_dict(body)
    except (URLError, OSError, http.client.HTTPException) as exc:
        raise Transient(CONNECTION_FAILED) from exc
    if answer.status_code == 429:
        raise error_for("ratelimited", 429, retry_after=_retry_after(answer.headers), scope="team")
    if answer.status_code >= 500:
        raise Transient(HTTP_SERVER_ERROR, answer.status_code)
    if answer.status_code != 200:
        # Slack answers a spent or expired response_url with 404 "expired_url" / "used_url".
        raise PayloadBug((answer.body or "response_url_refused")[:64], answer.status_code)


def _posted_for(response, delivery_id: int) -> str | None:
    """The ts of the message in a page of conversations.history/replies whose metadata names `delivery_id`."""
    for message in response.get("messages") or []:
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") == constants.DELIVERY_METADATA_TYPE \
                and str(payload.get("delivery_id")) == str(delivery_id):
            return message.get("ts")
    return None


def slack_find_posted(*, installation: SlackInstallation, channel_id: str, delivery_id: int,
                      oldest: float) -> str | None:
    """The ts of a message posted for `delivery_id` in the channel since `oldest`, or None."""
    cursor = None
    for _ in range(constants.MAX_PAGES):
        response = _with_installation(installation, "conversations.history", lambda c, cur=cursor: (
            c.conversations_history(channel=channel_id, oldest=f"{oldest:.6f}", inclusive=True,
                                    include_all_metadata=True, limit=constants.PAGE_LIMIT, cursor=cur)))
        ts = _posted_for(response, delivery_id)
        if ts:
            return ts
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    logger.warning("slack.find_posted_gave_up", extra={"installation_id": installation.pk,
                                                       "channel_id": channel_id, "delivery_id": delivery_id})
    return None


def slack_find_reply(*, installation: SlackInstallation, channel_id: str, thread_ts: str, delivery_id: int,
                     oldest: float) -> str | None:
    """The ts of the reply posted for `delivery_id` since `oldest` in the thread of `thread_ts`, or None.
    Reads one page of conversations.replies (1 request a minute for apps outside the Marketplace: the
    caller paces it)."""
    response = _with_installation(installation, "conversations.replies", lambda c: c.conversations_replies(
        channel=channel_id, ts=thread_ts, oldest=f"{oldest:.6f}", inclusive=True, include_all_metadata=True,
        limit=constants.PAGE_LIMIT))
    return _posted_for(response, delivery_id)


def slack_channel_usable(*, installation: SlackInstallation, channel_id: str) -> bool:
    """Whether a post to the channel can work: it exists, is not archived, and (private) has the bot in it."""
    try:
        channel = _with_installation(installation, "conversations.info",
                                     lambda c: c.conversations_info(channel=channel_id))["channel"]
    except DestinationBroken:
        return False
    if channel.get("is_archived"):
        return False
    # Private channels need the bot as a member; public ones are reachable through chat:write.public.
    return not channel.get("is_private") or channel.get("is_member", True) is not False


def _channel_cache_key(installation: SlackInstallation) -> str:
    return f"slack:channels:{installation.pk}:{installation.team_id}"


def slack_list_channels(*, installation: SlackInstallation, use_cache: bool = True) -> list[dict]:
    """Public channels and the private ones the bot is in, not archived, sorted by name.

    Each: {"id", "name", "is_private", "is_archived", "is_member"}. Kept in the cache briefly.
    """
    key = _channel_cache_key(installation)
    if use_cache:
        cached = _cache_get(key)
        if cached is not None:
            return cached
    channels: list[dict] = []
    cursor = None
    for _ in range(constants.MAX_PAGES):
        response = _with_installation(installation, "conversations.list", lambda c, cur=cursor: (
            c.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                 limit=constants.PAGE_LIMIT, cursor=cur)))
        for channel in response.get("channels") or []:
            is_private = bool(channel.get("is_private"))
            # Which private channels groups:read shows is unverified: keep only those the bot is in
            # (a missing is_member is taken as "in", since Slack listed it to the bot).
            if is_private and channel.get("is_member", True) is False:
                continue
            channels.append({"id": channel["id"], "name": channel.get("name") or channel["id"],
                             "is_private": is_private, "is_archived": bool(channel.get("is_archived")),
                             "is_member": bool(channel.get("is_member", is_private))})
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    channels.sort(key=lambda ch: ch["name"])
    _cache_set(key, channels, constants.CHANNEL_LIST_CACHE_SECONDS)
    return channels


def slack_forget_channels(*, installation: SlackInstallation) -> None:
    _cache_delete(_channel_cache_key(installation))


# The cache only saves Slack calls: when Redis is down, go to Slack instead of failing.
def _cache_get(key: str):
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - any cache backend failure
        logger.warning("slack.cache_unavailable", extra={"op": "get"})
        return None


def _cache_set(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001
        logger.warning("slack.cache_unavailable", extra={"op": "set"})


def _cache_delete(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:  # noqa: BLE001
        logger.warning("slack.cache_unavailable", extra={"op": "delete"})
