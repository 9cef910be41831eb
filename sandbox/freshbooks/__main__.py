"""python -m sandbox.freshbooks --port 8101 [--state-file var/sandbox-freshbooks.json]"""

import os

from sandbox.cli import base_parser, configure_logging, serve
from sandbox.freshbooks.app import FreshBooksApp, FreshBooksConfig


def main(argv: list[str] | None = None) -> None:
    parser = base_parser("python -m sandbox.freshbooks", "FreshBooks stand-in for ml-connector's sandbox mode.",
                         8101, "SANDBOX_FRESHBOOKS")
    env = os.environ.get
    defaults = FreshBooksConfig()
    parser.add_argument("--client-id", default=env("SANDBOX_FRESHBOOKS_CLIENT_ID", defaults.client_id),
                        help="the OAuth client id the app must use (empty: accept any)")
    parser.add_argument("--client-secret", default=env("SANDBOX_FRESHBOOKS_CLIENT_SECRET", defaults.client_secret),
                        help="the OAuth client secret the app must use (empty: accept any)")
    parser.add_argument("--app-name", default=env("SANDBOX_APP_NAME", defaults.app_name),
                        help="the application name shown on the authorize page")
    parser.add_argument("--delivery-workers", type=int,
                        default=int(env("SANDBOX_FRESHBOOKS_DELIVERY_WORKERS", defaults.delivery_workers)),
                        help="threads sending webhooks (1 keeps them in order)")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    app = FreshBooksApp(FreshBooksConfig(client_id=args.client_id, client_secret=args.client_secret,
                                         app_name=args.app_name, state_file=args.state_file, seed=args.seed,
                                         delivery_workers=args.delivery_workers))
    serve(app, args.host, args.port)


if __name__ == "__main__":
    main()
