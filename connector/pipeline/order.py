"""A channel's posts in the order FreshBooks told us of their news, though workers read events in parallel.

A post of event N waits while an earlier event of its tenant is still being read: that event may bring a
post for the same channel, which must go first. The head read says so in the same statement
(`unread_before`, audit/ledger.py). The waiting channel is written down under the event it waits for
(`mlc:order:<event id>`, in Redis), and reading that event wakes it (`news_read`): no polling. The note is
refused once the event is marked read, so a channel noted just as its event is read is never left waiting
(the drain reads its head again instead). If Redis loses the note, the sweep's minute kick of every channel
with due work wakes it instead. The wait is the tenant's own: another tenant sharing the workspace posts in
the channel meanwhile (connector/pipeline/delivery.py).
"""

import enum

import redis
from django.utils import timezone

from audit import ledger
from audit.models import Delivery
from connector.pipeline import pacing
from connector.pipeline.doorbell import channel_kick
from connector.pipeline.policy import CLAIM_LEASE, ORDER_WAIT, ORDER_WAIT_CLAIMS, ORDER_WAIT_READING

# A note outlives the longest wait it stands for (ORDER_WAIT): an event never read leaves nothing behind.
NOTE_TTL = int(ORDER_WAIT.total_seconds()) + 60
# "This event was read" needs to outlive only the moment between a drain's head read, which found the event
# unread, and its note; should that take longer, the note is left to the sweep's minute kick.
READ_TTL = 60


class Turn(enum.Enum):
    NOW = "now"  # the head may be posted
    WHEN_WOKEN = "when woken"  # an earlier event is being read; reading it wakes the channel
    READ_AGAIN = "read again"  # the earlier event was read meanwhile: read the head afresh (its post may be first)


def unread() -> ledger.Unread:
    """The events that hold later posts back (policy.ORDER_WAIT)."""
    now = timezone.now()
    # A claim taken ORDER_WAIT_READING ago has its lease end CLAIM_LEASE after that.
    return ledger.Unread(since=now - ORDER_WAIT, claims=ORDER_WAIT_CLAIMS,
                         lease_ends_after=now - ORDER_WAIT_READING + CLAIM_LEASE)


def _note_key(inbound_event_id: int) -> str:
    return f"mlc:order:{inbound_event_id}"


def _read_key(inbound_event_id: int) -> str:
    return f"mlc:order:read:{inbound_event_id}"


# Note the channel (ARGV[1]) under the event it waits for (KEYS[1]), unless that event was read meanwhile
# (KEYS[2], set by news_read in the same step as it takes the notes): 1 when noted, 0 when already read.
_NOTE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def head_turn(head: Delivery) -> Turn:
    """Whether a channel's head post or reply, read with `unread()`, may go now."""
    waits_for = head.unread_before
    if waits_for is None:
        return Turn.NOW
    noted = pacing.client().eval(_NOTE, 2, _note_key(waits_for), _read_key(waits_for),
                                 f"{head.slack_team_id} {head.channel_id}", NOTE_TTL)
    return Turn.WHEN_WOKEN if noted else Turn.READ_AGAIN


def news_read(inbound_event_id: int, *, kicked=()) -> None:
    """This event is read (recorded, or set aside): the channels whose posts waited for it may go on. The
    `kicked` ones, (team_id, channel_id) pairs, the caller drains itself."""
    try:
        pipe = pacing.client().pipeline()  # MULTI: a note is written either before this (and taken) or not at all
        pipe.set(_read_key(inbound_event_id), 1, ex=READ_TTL)
        pipe.smembers(_note_key(inbound_event_id))
        pipe.delete(_note_key(inbound_event_id))
        _, waiting, _ = pipe.execute()
    except redis.RedisError:
        return  # the sweep kicks every channel with due work within a minute
    for member in waiting:
        team_id, channel_id = member.decode().split(" ", 1)
        if (team_id, channel_id) not in kicked:
            channel_kick(team_id, channel_id)
