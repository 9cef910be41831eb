"""Per-channel and per-team pacing of Slack posts, shared by every worker process through Redis.

Nothing here sleeps: each call answers "go now" or "try again in N seconds", and the caller reschedules.
Redis may lose all of this state; then at worst one extra post per channel is tried, and Slack's own 429
(which parks the channel) covers it.
"""

import functools
import time

import redis
from django.conf import settings

from connector.pipeline.policy import CHANNEL_INTERVAL_MS, TEAM_MAX_POSTS_PER_SECOND


@functools.cache
def _redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def client() -> redis.Redis:
    return _redis_for(settings.REDIS_URL)


def _channel_key(team_id: str, channel_id: str) -> str:
    return f"mlc:pace:{team_id}:{channel_id}"


def _park_keys(team_id: str, channel_id: str) -> tuple[str, str]:
    return f"mlc:park:{team_id}", f"mlc:park:{team_id}:{channel_id}"


def parked_for(team_id: str, channel_id: str) -> float:
    """Seconds left while Slack told us (429) to leave this channel or its whole team alone; 0 if not."""
    pipe = client().pipeline()
    for key in _park_keys(team_id, channel_id):
        pipe.pttl(key)
    remaining = [ms for ms in pipe.execute() if ms and ms > 0]
    return max(remaining) / 1000 if remaining else 0.0


def park(team_id: str, channel_id: str, seconds: float, *, whole_team: bool = False) -> None:
    team_key, channel_key = _park_keys(team_id, channel_id)
    client().set(team_key if whole_team else channel_key, 1, px=max(1, int(seconds * 1000)))


def take_slot(team_id: str, channel_id: str) -> float:
    """Take the channel's next post slot. Returns 0 when taken, else the seconds until one may be free."""
    r = client()
    key = _channel_key(team_id, channel_id)
    if not r.set(key, 1, px=CHANNEL_INTERVAL_MS, nx=True):
        ttl = r.pttl(key)
        return max(ttl, 1) / 1000 if ttl and ttl > 0 else 0.05
    second = int(time.time())
    team_key = f"mlc:teamcap:{team_id}:{second}"
    pipe = r.pipeline()
    pipe.incr(team_key)
    pipe.expire(team_key, 2)
    count, _ = pipe.execute()
    if count > TEAM_MAX_POSTS_PER_SECOND:
        r.delete(key)  # give the channel slot back: nothing was posted
        return max(0.05, second + 1 - time.time())
    return 0.0


def slot_restart(team_id: str, channel_id: str) -> None:
    """Start the channel's interval again now that Slack has answered its post.

    Slack may count a post at any moment between receiving it and answering it, and the time between
    taking a slot and the request reaching Slack varies (database claim, a busy machine). Timing the next
    slot from the answer keeps two posts at least CHANNEL_INTERVAL_MS apart as Slack sees them, whatever
    those delays; timing it from the slot alone lets a slow post followed by a fast one arrive too close.
    """
    client().set(_channel_key(team_id, channel_id), 1, px=CHANNEL_INTERVAL_MS)


def claim_drain(team_id: str, channel_id: str, *, countdown: float, lease: float = 30.0) -> bool:
    """True when no drain of this channel is already scheduled (so the caller schedules one)."""
    return bool(client().set(f"mlc:drain:{team_id}:{channel_id}", 1, px=int((countdown + lease) * 1000), nx=True))


def release_drain(team_id: str, channel_id: str) -> None:
    client().delete(f"mlc:drain:{team_id}:{channel_id}")


def probe_due(team_id: str, channel_id: str, interval_seconds: int) -> bool:
    return bool(client().set(f"mlc:probe:{team_id}:{channel_id}", 1, ex=interval_seconds, nx=True))
