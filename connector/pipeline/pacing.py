"""Per-channel and per-team pacing of Slack posts, shared by every worker process through Redis.

Nothing here sleeps: each call answers "go now" or "try again in N seconds", and the caller reschedules.
Redis may lose all of this state; then at worst one extra post per channel is tried, and Slack's own 429
(which parks the channel) covers it.
"""

import functools
import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings

from connector.pipeline.policy import (
    CARD_EDIT_INTERVAL,
    CHANNEL_INTERVAL_MS,
    EDITS_PER_MINUTE,
    SLOT_HOLD_MS,
    TEAM_MAX_POSTS_PER_SECOND,
    THREAD_LOOKUP_INTERVAL_MS,
)


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
    pipe = client().pipeline(transaction=False)
    for key in _park_keys(team_id, channel_id):
        pipe.pttl(key)
    remaining = [ms for ms in pipe.execute() if ms and ms > 0]
    return max(remaining) / 1000 if remaining else 0.0


def park(team_id: str, channel_id: str, seconds: float, *, whole_team: bool = False) -> None:
    team_key, channel_key = _park_keys(team_id, channel_id)
    client().set(team_key if whole_team else channel_key, 1, px=max(1, int(seconds * 1000)))


# Take the channel's post slot (KEYS[1]) for ARGV[1] ms, and one of the workspace's posts this second
# (KEYS[2], at most ARGV[2]), unless Slack parked the workspace or the channel (KEYS[3], KEYS[4]). Answers 0
# when taken; else the ms to wait: the park's or the slot's (at most ARGV[3]: a slot held past an interval
# is a post still waiting for Slack's answer, which restarts it), or -1 when the second's posts are all
# taken (the slot is given back: nothing was posted).
_TAKE_SLOT = """
local parked = math.max(redis.call('PTTL', KEYS[3]), redis.call('PTTL', KEYS[4]))
if parked > 0 then return parked end
if not redis.call('SET', KEYS[1], 1, 'PX', ARGV[1], 'NX') then
  return math.max(math.min(redis.call('PTTL', KEYS[1]), tonumber(ARGV[3])), 50)
end
local count = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 2)
if count > tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return -1
end
return 0
"""


def take_slot(team_id: str, channel_id: str) -> float:
    """Take the channel's next post slot, unless Slack told us (429) to leave the channel or its workspace
    alone. Returns 0 when taken, else the seconds until one may be free (one round trip)."""
    now = time.time()
    second = int(now)
    wait_ms = client().eval(_TAKE_SLOT, 4, _channel_key(team_id, channel_id), f"mlc:teamcap:{team_id}:{second}",
                            *_park_keys(team_id, channel_id), SLOT_HOLD_MS, TEAM_MAX_POSTS_PER_SECOND,
                            CHANNEL_INTERVAL_MS)
    if wait_ms < 0:
        return max(0.05, second + 1 - now)
    return wait_ms / 1000


def slot_give_back(team_id: str, channel_id: str) -> None:
    """The slot was taken but nothing was sent (the delivery went to another worker meanwhile)."""
    client().delete(_channel_key(team_id, channel_id))


def slot_restart(team_id: str, channel_id: str) -> None:
    """Start the channel's interval again now that Slack has answered its post.

    Slack may count a post at any moment between receiving it and answering it, and the time between
    taking a slot and the request reaching Slack varies (database claim, a busy machine). Timing the next
    slot from the answer keeps two posts at least CHANNEL_INTERVAL_MS apart as Slack sees them, whatever
    those delays; timing it from the slot alone lets a slow post followed by a fast one arrive too close.
    """
    client().set(_channel_key(team_id, channel_id), 1, px=CHANNEL_INTERVAL_MS)


# A channel's drain is scheduled for a moment ("due", epoch ms, the value of its drain key). A kick that
# needs the channel drained sooner than that by more than this schedules another drain: else a drain
# waiting for a far retry (or a claimed delivery's lease) would hold back a new message or a sooner retry.
DRAIN_SOONER_BY_MS = 250

# A drain is due at ARGV[1] (epoch ms), or when the channel's post slot (KEYS[2]) opens if that is later
# (within ARGV[5], an interval: a slot held longer waits for a post's answer): sooner it could only find the
# slot taken. Set the drain key (KEYS[1]) to that due and answer it, unless a
# drain is already due no later than it + ARGV[3] (answer 0). ARGV[4]: now (ms); ARGV[2]: the key's lease.
_CLAIM_DRAIN = """
local due = tonumber(ARGV[1])
local slot = math.min(redis.call('PTTL', KEYS[2]), tonumber(ARGV[5]))
if slot > 0 then due = math.max(due, tonumber(ARGV[4]) + slot) end
local current = tonumber(redis.call('GET', KEYS[1]) or '')
if current and current <= due + tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], due, 'PX', due - tonumber(ARGV[4]) + tonumber(ARGV[2]))
return due
"""
# Delete the drain key if it is still this drain's (ARGV[1]: its due; empty: whatever it holds).
_RELEASE_DRAIN = """
if ARGV[1] == '' or redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _drain_key(team_id: str, channel_id: str) -> str:
    return f"mlc:drain:{team_id}:{channel_id}"


@dataclass(frozen=True)
class DrainClaim:
    token: str  # the drain releases its claim with it (release_drain)
    countdown: float  # seconds until the drain is due: the caller's, or until the channel's post slot opens


def claim_drain(team_id: str, channel_id: str, *, countdown: float, lease: float = 30.0) -> DrainClaim | None:
    """Whether the caller should schedule a drain of this channel in `countdown` seconds (later if the
    channel's post slot is taken until then): yes when none is scheduled, or when the one scheduled is due
    more than DRAIN_SOONER_BY_MS later; None when one already covers it."""
    now_ms = int(time.time() * 1000)
    due = client().eval(_CLAIM_DRAIN, 2, _drain_key(team_id, channel_id), _channel_key(team_id, channel_id),
                        now_ms + int(countdown * 1000), int(lease * 1000), DRAIN_SOONER_BY_MS, now_ms,
                        CHANNEL_INTERVAL_MS)
    if not due:
        return None
    return DrainClaim(token=str(int(due)), countdown=max(0.0, (int(due) - now_ms) / 1000))


def release_drain(team_id: str, channel_id: str, token: str | None = None) -> None:
    """The drain is running: the next kick schedules a new one. A drain superseded by a sooner one (its
    token no longer in the key) leaves the newer claim alone."""
    client().eval(_RELEASE_DRAIN, 1, _drain_key(team_id, channel_id), token or "")


def probe_due(team_id: str, channel_id: str, interval_seconds: int) -> bool:
    return bool(client().set(f"mlc:probe:{team_id}:{channel_id}", 1, ex=interval_seconds, nx=True))


def probe_wait(team_id: str, channel_id: str) -> float:
    """Seconds until the channel may be probed again (0 when it may be now)."""
    return max(client().pttl(f"mlc:probe:{team_id}:{channel_id}"), 0) / 1000


# --- Card edits (chat.update, Tier 3) ------------------------------------------------------------------

# A little over a minute: Slack (and the stand-in) refill the budget evenly, so a full window a minute
# after the first must not arrive a moment too early.
EDIT_WINDOW_MS = 61_000
# A sliding window of the workspace's edits in the last minute (a sorted set of their times): take one
# when fewer than ARGV[3] were made, else answer the milliseconds until the oldest leaves the window.
# KEYS[1] the window, KEYS[2] the park Slack set with a 429; ARGV[1] now (ms), ARGV[2] a unique member.
_TAKE_EDIT = """
local parked = redis.call('PTTL', KEYS[2])
if parked > 0 then return parked end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + tonumber(ARGV[4]) - now)
"""


def _edit_keys(team_id: str) -> list[str]:
    return [f"mlc:edits:{team_id}", f"mlc:editpark:{team_id}"]


def edit_take(team_id: str, *, per_minute: int | None = None) -> float:
    """Take one of the workspace's card edits for this minute (shared by all workers). Returns 0 when
    taken, else the seconds until one may be free (or until Slack's Retry-After ends)."""
    now_ms = int(time.time() * 1000)
    member = f"{now_ms}:{uuid.uuid4().hex[:12]}"
    wait_ms = client().eval(_TAKE_EDIT, 2, *_edit_keys(team_id), now_ms, member,
                            per_minute or EDITS_PER_MINUTE, EDIT_WINDOW_MS)
    return int(wait_ms) / 1000


def edits_park(team_id: str, seconds: float) -> None:
    """Slack answered an edit with 429: no edit of this workspace until Retry-After (posts go on)."""
    client().set(_edit_keys(team_id)[1], 1, px=max(1, int(seconds * 1000)))


def _card_key(card_id: int) -> str:
    return f"mlc:card:{card_id}"


def card_edit_wait(card_id: int) -> float:
    """Seconds until this card may be edited again (0: now)."""
    return max(client().pttl(_card_key(card_id)), 0) / 1000


def card_edit_mark(card_id: int) -> None:
    """The card was just edited (or posted): the next edit waits CARD_EDIT_INTERVAL."""
    client().set(_card_key(card_id), 1, px=int(CARD_EDIT_INTERVAL.total_seconds() * 1000))


def thread_lookup_take(team_id: str) -> float:
    """Take the workspace's thread lookup (conversations.replies) slot: 0 when taken, else seconds to wait."""
    r = client()
    key = f"mlc:threadlookup:{team_id}"
    if r.set(key, 1, px=THREAD_LOOKUP_INTERVAL_MS, nx=True):
        return 0.0
    return max(r.pttl(key), 1) / 1000
