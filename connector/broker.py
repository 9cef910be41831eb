"""The Celery broker transport: kombu's Redis transport, made to survive Redis going away.

Settings: CELERY_BROKER_TRANSPORT = "connector.broker:Transport" (the broker URL stays redis://...).

Why. When Redis restarts while a worker holds unacknowledged messages (late acks: every task that runs,
and every countdown waiting in the worker), kombu 5.7 can end the worker with "Unrecoverable error:
AttributeError("'NoneType' object has no attribute 'hostname'")". On a lost connection Celery calls
`Connection.collect()`: its close of the consumer's channel fails at once (reading the pending BRPOP reply
from the dead socket), then it drops the transport (`transport.client = None`). Celery then calls
`connection.close()`, which closes that channel again; this time the close goes on to restore the
unacknowledged messages, needs a new Redis connection pool and builds it from
`transport.client.hostname`. The AttributeError escapes every handler, since they expect connection
errors, up to the worker's main loop. Acknowledging a task that finishes after the reconnection takes the
same path for its old channel.

What changes, each small and local:
- the synchronous client (publishes, acknowledgements) is built once per connection pool, not per call;
- a channel of a closed transport raises a connection error instead, so Celery treats it as what it is,
  a lost connection: it logs, reconnects and goes on;
- a channel close cut short by the lost connection still leaves the poller and drops its clients;
- registering a connection with the worker's event loop removes the poll callback of the connection it
  replaces (kombu adds one per connection and never removes any).

Nothing is lost by giving up on restoring messages into a Redis that has gone: a restarted Redis is empty
anyway, and the sweep re-queues from the database any work whose task was lost (ARCHITECTURE).
"""

import contextlib
import logging

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

_TICK_ATTRIBUTE = "_mlc_redis_poll_start"  # where the event loop keeps our current poll callback


class BrokerGone(RedisConnectionError):
    """The channel's connection to Redis was closed after a connection loss."""


class Channel(kombu_redis.Channel):
    _sync_client = None  # kombu builds a new redis.Redis for every publish and acknowledgement

    def _create_client(self, asynchronous=False):
        """One client per connection pool instead of one per call (a redis.Redis costs more to build than the
        command it sends); a new pool, as after a lost connection, gets a new client."""
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._sync_client
        if client is None or client.connection_pool is not pool:
            client = self._sync_client = super()._create_client()
        return client

    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport is None or transport.client is None:
            raise BrokerGone("the connection to Redis was closed after it was lost")
        return super()._connparams(asynchronous=asynchronous)

    def close(self):
        try:
            super().close()
        except self.connection_errors as exc:
            # Cut short by the lost connection: finish what close() would have done, without Redis.
            logger.warning("broker.channel_close_interrupted", extra={"error": type(exc).__name__})
            self.closed = True
            transport = self.connection
            if transport is not None:
                transport.cycle.discard(self)
                transport.close_channel(self)
            self._disconnect_pools()
            self._close_clients()
            if self._qos is not None:
                # Marks its unacknowledged messages as handled (restoring them cannot work now), so that
                # kombu does not try again when the channel is garbage collected.
                with contextlib.suppress(*self.connection_errors):
                    self._qos.restore_unacked_once()


class Transport(kombu_redis.Transport):
    Channel = Channel

    def register_with_event_loop(self, connection, loop):
        before = set(loop.on_tick)
        super().register_with_event_loop(connection, loop)
        added = set(loop.on_tick) - before
        previous = getattr(loop, _TICK_ATTRIBUTE, None)
        if previous is not None:
            loop.on_tick.discard(previous)  # the connection it belonged to is gone
        setattr(loop, _TICK_ATTRIBUTE, next(iter(added), None))
