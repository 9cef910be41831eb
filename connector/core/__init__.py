"""Shared foundations every app may import: encryption, the application error, the event vocabulary, logging."""
