"""Small-file helpers for the state folder, shared by every process that touches it.

Paths are strings or Paths; these use os.path, because importing pathlib (and tempfile) would
cost every cron-started read.py several milliseconds.
"""

from __future__ import annotations

import contextlib
import os

StrPath = str | os.PathLike[str]


def read_text(path: StrPath) -> str:
    """The whole file, as Path.read_text() reads it."""
    with open(path) as handle:
        return handle.read()


def with_suffix(path: StrPath, suffix: str) -> str:
    """``path`` with its extension replaced, as Path.with_suffix() does."""
    return os.path.splitext(os.fspath(path))[0] + suffix


def _create_temporary(path: str) -> tuple[int, str]:
    """A new, private file beside ``path``, as tempfile.mkstemp() makes."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = f"{path}.{os.getpid()}-{os.urandom(4).hex()}.tmp"
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue


def write_atomic(path: StrPath, text: str) -> None:
    """Write via a temporary file and rename, so concurrent readers never see half a file."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
