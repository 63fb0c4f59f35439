"""Errors a user can cause, each printed by the CLI as one line that names the file and the cause."""

from __future__ import annotations

import os


class ScsamplerError(Exception):
    """Base class of the errors that the CLI reports as one line, without a traceback."""


class VideoError(ScsamplerError):
    """A video file could not be read as asked: names the file and the cause.

    ``str(err)`` is the one line the CLI prints, e.g. ``clip.mp4: no video stream``.
    """

    def __init__(self, path: str | os.PathLike, cause: str):
        self.path = str(path)
        self.cause = " ".join(str(cause).split())  # one line, whatever FFmpeg said
        super().__init__(f"{self.path}: {self.cause}")

    def __reduce__(self):
        # Rebuilt from (path, cause), not from the one-line message: a worker process's error
        # crosses to its parent intact (multiprocessing pickles it).
        return type(self), (self.path, self.cause)


class ConfigError(ScsamplerError):
    """A setting or an input file (manifest, checkpoint) is not usable."""
