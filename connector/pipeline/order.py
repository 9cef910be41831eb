"""A channel's posts in the order FreshBooks told us of their news, though workers read events in parallel.

A post of event N waits while an earlier event of its tenant is still being read: that event may bring a
post for the same channel, which must go first. The waiting channel is written down under the event it
waits for (`mlc:order:<event id>`, in Redis), and reading that event wakes it (`news_read`): no polling.
If Redis loses the note, the sweep's minute kick of every channel with due work wakes it instead.
"""

import redis
from django.utils import timezone

from audit import ledger
from audit.models import Delivery
from connector.pipeline import pacing
from connector.pipeline.doorbell import channel_kick
from connector.pipeline.policy import ORDER_WAIT, ORDER_WAIT_CLAIMS

# A note outlives the longest wait it stands for (ORDER_WAIT): an event never read leaves nothing behind.
NOTE_TTL = int(ORDER_WAIT.total_seconds()) + 60
# Each round reads the latest earlier event again after writing the note; one read while the note was
# written finds it gone. After this many rounds (events read one after another just as we look) the drain
# comes back in POLL_AFTER seconds instead.
ROUNDS = 3
POLL_AFTER = 1.0


def _note_key(inbound_event_id: int) -> str:
    return f"mlc:order:{inbound_event_id}"


def _unread_before(delivery: Delivery) -> int | None:
    return ledger.inbound_unread_before(tenant_id=delivery.tenant_id, inbound_event_id=delivery.inbound_event_id,
                                        since=timezone.now() - ORDER_WAIT, attempts_below=ORDER_WAIT_CLAIMS)


def post_waits(delivery: Delivery) -> float | None:
    """0 when this post may go now; None when it waits for an earlier event, which wakes its channel once
    read; else the seconds after which to look again."""
    waits_for = _unread_before(delivery)
    for _ in range(ROUNDS):
        if waits_for is None:
            return 0.0
        pipe = pacing.client().pipeline()
        pipe.sadd(_note_key(waits_for), f"{delivery.slack_team_id} {delivery.channel_id}")
        pipe.expire(_note_key(waits_for), NOTE_TTL)
        pipe.execute()
        # Read again: had the event been read before the note was written, no one would wake the channel.
        again = _unread_before(delivery)
        if again == waits_for:
            return None
        waits_for = again
    return 0.0 if waits_for is None else POLL_AFTER


def news_read(inbound_event_id: int, *, kicked=()) -> None:
    """This event is read (recorded, or set aside): the channels whose posts waited for it may go on. The
    `kicked` ones, (team_id, channel_id) pairs, the caller drains itself."""
    try:
        pipe = pacing.client().pipeline()  # MULTI: a note written in between is either read here or kept
        pipe.smembers(_note_key(inbound_event_id))
        pipe.delete(_note_key(inbound_event_id))
        waiting, _ = pipe.execute()
    except redis.RedisError:
        return  # the sweep kicks every channel with due work within a minute
    for member in waiting:
        team_id, channel_id = member.decode().split(" ", 1)
        if (team_id, channel_id) not in kicked:
            channel_kick(team_id, channel_id)
