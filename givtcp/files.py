"""Small-file helpers for the state folder, shared by every process that touches it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new, private file beside ``path`` (what tempfile.mkstemp does, without importing
    tempfile, which costs a cron-started read.py ~4 ms)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = str(path.parent / f"{path.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so concurrent readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
