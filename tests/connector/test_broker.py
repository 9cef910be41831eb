"""The broker transport survives Redis going away: what kombu's own Redis transport turns into an
AttributeError that ends the worker becomes a connection error, which Celery recovers from."""

import os

import pytest
from kombu import Connection
from kombu.asynchronous import Hub
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

from connector import broker

REDIS_URL = os.environ["REDIS_URL"]


def _channel(transport):
    connection = Connection(REDIS_URL, transport=transport)
    return connection, connection.channel()


def _as_after_a_lost_connection(connection, channel) -> None:
    """What Celery's cleanup of a lost connection leaves behind for a channel whose close was cut short:
    its Redis pools dropped, the transport closed (client None), the channel still pointing at it."""
    channel._disconnect_pools()
    connection._do_close_transport()


@pytest.mark.parametrize("operation", ["ack", "restore"])
def test_a_channel_of_a_closed_transport_raises_a_connection_error(operation):
    stock_connection, stock = _channel("redis")
    ours_connection, ours = _channel(broker.Transport)
    for connection, channel in ((stock_connection, stock), (ours_connection, ours)):
        channel.qos._delivered["tag-1"] = None
        _as_after_a_lost_connection(connection, channel)

    def run(channel):
        if operation == "ack":
            channel.qos.ack("tag-1")
        else:
            channel.qos.restore_unacked()

    # kombu's transport: the AttributeError the worker died of ...
    with pytest.raises(AttributeError, match="hostname"):
        run(stock)
    # ... ours: a connection error, which Celery's handlers expect and recover from.
    with pytest.raises(RedisConnectionError):
        run(ours)
    for channel in (stock, ours):
        channel.qos._on_collect.cancel()  # nothing to restore at garbage collection in this test


def test_a_close_cut_short_by_the_lost_connection_still_leaves_the_poller():
    connection, channel = _channel(broker.Transport)
    transport = connection.transport
    assert channel in transport.cycle._channels

    def lost(*args, **kwargs):
        raise RedisConnectionError("Connection closed by server.")

    channel._in_poll = True
    channel._brpop_read = lost
    channel.close()  # does not raise

    assert channel.closed
    assert channel not in transport.cycle._channels and channel.connection is None
    connection.release()


def test_a_new_connection_replaces_the_previous_ones_poll_callback_on_the_event_loop():
    hub = Hub()
    stock_hub = Hub()
    try:
        for _ in range(3):  # three reconnections
            for transport, loop in ((broker.Transport, hub), ("redis", stock_hub)):
                connection = Connection(REDIS_URL, transport=transport)
                connection.transport.register_with_event_loop(connection.connection, loop)
        assert len(stock_hub.on_tick) == 3  # kombu keeps polling every closed connection's channels
        assert len(hub.on_tick) == 1
    finally:
        hub.close()
        stock_hub.close()


def test_celery_uses_this_transport(settings):
    from connector.celery import app

    assert settings.CELERY_BROKER_TRANSPORT == "connector.broker:Transport"
    with app.connection_for_read() as connection:
        assert connection.transport_cls == "connector.broker:Transport"
        assert isinstance(connection.transport, broker.Transport)
        assert issubclass(broker.Transport.Channel, kombu_redis.Channel)
