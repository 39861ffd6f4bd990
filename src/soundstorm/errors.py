"""Exceptions shown to users as one-line messages by the command line."""

from __future__ import annotations

import copy
import os


class SoundStormError(Exception):
    """An error caused by the user's input (bad file, bad option, bad data).

    The CLI prints ``str(error)`` on one line and exits with status 2; no traceback.
    """


class AudioInputError(SoundStormError, ValueError):
    """Audio given by the user that cannot be used (too short, empty, non-finite samples).

    Raised by the code that reads the audio (``Codec.encode``, ``SemanticTokenizer.tokenize``),
    which does not know which file the samples came from; callers that do know name it with
    :meth:`named` (or ``soundstorm.audio.naming_audio_errors``).

    Attributes:
        reason: what is wrong with the audio, without the source.
        source: the file (or role, e.g. ``"prompt"``) the audio came from, or None.
    """

    def __init__(self, reason: str, source: str | os.PathLike | None = None) -> None:
        self.reason = reason
        self.source = None if source is None else str(source)
        super().__init__(f"{self.source}: {reason}" if self.source else reason)

    def named(self, source: str | os.PathLike | None) -> AudioInputError:
        """A copy of this error whose message starts with ``source`` (self if already named)."""
        if source is None or self.source is not None:
            return self
        error = copy.copy(self)
        error.source = str(source)
        error.args = (f"{error.source}: {self.reason}",)
        return error

    def __reduce__(self):
        return (AudioInputError._rebuild, (type(self), self.__dict__))

    @staticmethod
    def _rebuild(cls: type, state: dict) -> AudioInputError:
        error = cls.__new__(cls)
        error.__dict__.update(state)
        source = state.get("source")
        error.args = (f"{source}: {state['reason']}" if source else state["reason"],)
        return error


class AudioTooShortError(AudioInputError):
    """Audio shorter than one frame of the codec or semantic tokenizer that reads it.

    Message: ``"x.wav: audio is 10.0 ms long, shorter than one codec frame (20.0 ms)"``.

    Attributes:
        seconds: duration of the audio (s).
        frame_seconds: duration of one frame (s).
        frame: what kind of frame (``"codec frame"``, ``"semantic frame"``).
    """

    def __init__(
        self,
        seconds: float,
        frame_seconds: float,
        frame: str = "codec frame",
        source: str | os.PathLike | None = None,
    ) -> None:
        self.seconds = float(seconds)
        self.frame_seconds = float(frame_seconds)
        self.frame = frame
        super().__init__(
            f"audio is {1000 * self.seconds:.1f} ms long, shorter than one {frame} "
            f"({1000 * self.frame_seconds:.1f} ms)",
            source,
        )
