"""Exceptions shown to users as one-line messages by the command line."""

from __future__ import annotations

import copy
import errno
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


class DamagedFileError(SoundStormError):
    """A file soundstorm wrote that no longer reads back as written (checksum mismatch,
    truncated, undecodable).

    Message: ``"<file> is damaged (<cause>): <what to do>"``, one line.

    Attributes:
        path: the damaged file.
        cause: what is wrong with it (e.g. ``"sha256 mismatch"``).
    """

    def __init__(self, path: str | os.PathLike, cause: str, hint: str = "write it again") -> None:
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path} is damaged ({cause}): {hint}")


class FolderInUseError(SoundStormError):
    """An output folder another live soundstorm run is writing (``soundstorm.files.folder_lock``).

    Attributes:
        folder: the folder.
        holder: what the lock file says about the run that holds it (``pid``, ``host``,
            ``command``, ``started``), possibly empty.
    """

    def __init__(self, folder: str | os.PathLike, holder: dict) -> None:
        self.folder = str(folder)
        self.holder = dict(holder)
        who = holder.get("command") or "another soundstorm run"
        where = ", ".join(
            f"{key} {holder[key]}" for key in ("pid", "host", "started") if holder.get(key)
        )
        super().__init__(
            f"{self.folder} is in use by {who}"
            + (f" ({where})" if where else "")
            + ": wait for it to finish, or use another folder"
        )


#: Short causes of the OS errors a user can act on, by errno (``os_error_message``).
_OS_ERROR_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "is a folder",
    errno.EEXIST: "already exists",
    errno.EIO: "input/output error (failing disk or network file system?)",
    errno.EMFILE: "too many open files",
    errno.ENAMETOOLONG: "file name too long",
    errno.EFBIG: "file too large for the file system",
}


def os_error_message(error: OSError) -> str:
    """One line for an OS error: the file it concerns and the cause, without a traceback.

    Examples: ``"out/codec.safetensors: no space left on the device"``,
    ``"out: permission denied"``. An error raised with a message of ours (no ``errno``) is
    returned as it is.

    Args:
        error: the error.

    Returns:
        The line.
    """
    if error.errno is None:
        return str(error)
    cause = _OS_ERROR_CAUSES.get(error.errno) or error.strerror or str(error)
    names = [str(name) for name in (error.filename, error.filename2) if name is not None]
    return f"{' -> '.join(names)}: {cause}" if names else cause
