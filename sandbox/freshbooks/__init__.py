"""FreshBooks stand-in: OAuth, identity, accounting resources, Events API callbacks and signed webhooks."""

from sandbox.freshbooks.app import FreshBooksApp, FreshBooksConfig

__all__ = ["FreshBooksApp", "FreshBooksConfig"]
