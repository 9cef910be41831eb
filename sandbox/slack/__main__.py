"""python -m sandbox.slack --port 8102 --events-url http://127.0.0.1:8000/slack/events/ --signing-secret S"""

import os

from sandbox.cli import base_parser, configure_logging, serve
from sandbox.slack.app import SlackApp, SlackConfig


def main(argv: list[str] | None = None) -> None:
    parser = base_parser("python -m sandbox.slack", "Slack stand-in for ml-connector's sandbox mode.", 8102,
                         "SANDBOX_SLACK")
    env = os.environ.get
    defaults = SlackConfig()
    parser.add_argument("--client-id", default=env("SANDBOX_SLACK_CLIENT_ID", defaults.client_id))
    parser.add_argument("--client-secret", default=env("SANDBOX_SLACK_CLIENT_SECRET", defaults.client_secret))
    parser.add_argument("--signing-secret", default=env("SANDBOX_SLACK_SIGNING_SECRET", defaults.signing_secret),
                        help="signs the Events API calls sent to --events-url")
    parser.add_argument("--events-url", default=env("SANDBOX_SLACK_EVENTS_URL"),
                        help="the app's Events API endpoint, e.g. http://127.0.0.1:8000/slack/events/")
    parser.add_argument("--app-name", default=env("SANDBOX_APP_NAME", defaults.app_name))
    parser.add_argument("--token-rotation", action="store_true",
                        default=env("SANDBOX_SLACK_TOKEN_ROTATION", "").lower() in ("1", "true", "yes"),
                        help="issue expiring tokens with refresh tokens")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    app = SlackApp(SlackConfig(client_id=args.client_id, client_secret=args.client_secret,
                               signing_secret=args.signing_secret, events_url=args.events_url,
                               app_name=args.app_name, state_file=args.state_file, seed=args.seed,
                               token_rotation=args.token_rotation))
    serve(app, args.host, args.port)


if __name__ == "__main__":
    main()
