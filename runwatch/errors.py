"""Errors every surface shares."""


class UserError(Exception):
    """A mistake of the caller (bad path, bad option); shown as one line, exit code 2."""


class LayoutError(ValueError):
    """A key that is no run of the project (a config outside its configs folder, a folder no layout claims)."""
