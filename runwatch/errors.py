"""Errors every surface shares."""


class UserError(Exception):
    """A mistake of the caller (bad path, bad option); shown as one line, exit code 2."""
