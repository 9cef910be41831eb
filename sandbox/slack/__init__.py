"""Slack stand-in: OAuth v2, the Web API methods ml-connector uses, fault injection, signed events, a page."""

from sandbox.slack.app import SlackApp, SlackConfig

__all__ = ["SlackApp", "SlackConfig"]
