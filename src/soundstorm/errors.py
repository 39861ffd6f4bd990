"""Exceptions shown to users as one-line messages by the command line."""


class SoundStormError(Exception):
    """An error caused by the user's input (bad file, bad option, bad data).

    The CLI prints ``str(error)`` on one line and exits with status 2; no traceback.
    """
