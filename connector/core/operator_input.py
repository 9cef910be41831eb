"""Secrets for operator commands without putting them on the command line, where `ps` and shell history
show them: an option that is left out is read from its environment variable, else from standard input
(one line per secret, in the order the command asks; a terminal gets a hidden prompt)."""

import getpass
import os
import sys

from django.core.management.base import CommandError


def secret_option(value: str | None, *, option: str, env_var: str, required: bool = True,
                  from_stdin: bool = True) -> str:
    if value:
        return value.strip()
    if os.environ.get(env_var, "").strip():
        return os.environ[env_var].strip()
    if from_stdin:
        if sys.stdin is not None and sys.stdin.isatty():
            line = getpass.getpass(f"{option.lstrip('-').replace('-', ' ')}: ")
        else:
            line = sys.stdin.readline() if sys.stdin is not None else ""
        if line.strip():
            return line.strip()
    if required:
        raise CommandError(f"{option} is missing: give it, set {env_var}, or pass it on standard input.")
    return ""
