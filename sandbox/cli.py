"""Command-line plumbing shared by the stand-ins: common flags, logging, serve until SIGINT/SIGTERM."""

import argparse
import logging
import os
import signal
import sys
import threading

from sandbox.http import App, SandboxServer


def base_parser(prog: str, description: str, default_port: int, env_prefix: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    env = os.environ.get
    parser.add_argument("--host", default=env(f"{env_prefix}_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env(f"{env_prefix}_PORT", default_port)))
    parser.add_argument("--state-file", default=env(f"{env_prefix}_STATE_FILE"),
                        help="JSON file that keeps the state across restarts")
    parser.add_argument("--seed", default=env(f"{env_prefix}_SEED", "sandbox"),
                        help="seed for tokens and random fault injection (same seed, same run)")
    parser.add_argument("--log-level", default=env(f"{env_prefix}_LOG_LEVEL", "INFO"))
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def serve(app: App, host: str, port: int) -> None:
    server = SandboxServer(app, host, port)
    app.log.info("%s stand-in listening on %s", app.name, server.url)
    app.start_background()
    stopping = threading.Event()

    def _stop(signum, frame):
        if not stopping.is_set():
            stopping.set()
            # shutdown() waits for serve_forever to return, so call it from another thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        app.stop_background()
        app.log.info("%s stand-in stopped", app.name)
