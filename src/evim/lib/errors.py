"""Errors that evim reports to a person as one clear message (no traceback)."""


class EvimError(Exception):
    """An error whose message says what is wrong and what to do about it."""
