"""Logging for the scripts: stderr only (stdout is for JSON), an optional debug file, and one
redaction that every message leaving the process goes through (log records, their
tracebacks, and the error lines the scripts print), so passwords and tokens never reach a log.

Redaction replaces the secret settings' values, and whatever looks like a credential even when
it is not one of them: an ``Authorization`` header a server echoed back, ``Bearer``/``Token``
credentials, ``password=...`` pairs, the password in ``scheme://user:password@host``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

DEBUG_LOG_NAME = "givtcp_debug.log"
HIDDEN = "***"

_PATTERNS = (
    # Authorization: Token abc / "Authorization": "Bearer abc" / Authorization=Basic abc
    re.compile(r"(?i)(\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,;}\]]+"),
    # credentials by scheme, as servers and libraries quote them
    re.compile(r"(\b(?:Bearer|Token|Basic)\s+)[A-Za-z0-9._~+/=-]{6,}"),
    # password=..., "token": "...", api_key: ...
    re.compile(
        r"(?i)(\b(?:password|passwd|pwd|token|secret|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\s\"',;&}\]]+"
    ),
    # scheme://user:password@host
    re.compile(r"(://[^/\s:@]*:)[^/\s@]+(?=@)"),
)

_secrets: list[str] = []  # the secret settings' values, longest first


def set_secrets(secrets: Iterable[str]) -> None:
    """The secret values to hide from now on (setup_logging sets them from the settings)."""
    _secrets[:] = sorted({s for s in secrets if s}, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every secret value and anything that looks like a credential hidden."""
    for secret in _secrets:
        text = text.replace(secret, HIDDEN)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + HIDDEN, text)
    return text


def emit(text: str) -> None:
    """Print a line for the user on stderr (an error, an output's failure), redacted."""
    print(redact(text), file=sys.stderr)


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output (message, arguments, traceback) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# Logs of the project's own packages; with -v they reach stderr at DEBUG (every request with
# its timing, retries and why, each rejected value, what each output did).
OWN_LOGGERS = ("givtcp", "givenergy_modbus_codec", "outputs", "__main__")
# Libraries whose chatter stays out of the user's stderr and debug log: warnings only.
NOISY_LOGGERS = ("urllib3", "paho", "werkzeug", "influxdb_client")


def setup_logging(
    verbose: bool = False,
    debug_dir: str | Path | None = None,
    secrets: list[str] | None = None,
) -> Path | None:
    """Configure the root logger; returns the debug log path when one is written.

    stderr gets warnings and errors, and with ``verbose`` everything the project logs; the
    debug file (``debug_dir``) everything. A debug folder that cannot be written is reported
    once on stderr and the run goes on without the file.
    """
    set_secrets(secrets or [])
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG)

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(RedactingFormatter("%(levelname)s: %(message)s"))
    if verbose:
        console.addFilter(_own_or_warning)
    root.addHandler(console)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)

    if debug_dir is None:
        return None
    folder = os.fspath(debug_dir) or "."
    path = os.path.join(folder, DEBUG_LOG_NAME)
    try:
        os.makedirs(folder, exist_ok=True)
        file_handler = logging.FileHandler(path)
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "cannot write the debug log %s (DEBUG_FILE_LOCATION): %s; logging to stderr only",
            path,
            exc.strerror or exc,
        )
        return None
    file_handler.setLevel(logging.DEBUG)
    file_handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    from pathlib import Path  # only when debugging: the read path does without (~4 ms)

    return Path(path)


def _own_or_warning(record: logging.LogRecord) -> bool:
    """-v shows the project's own debug lines; other libraries' only from warnings up."""
    if record.levelno >= logging.WARNING:
        return True
    return record.name.split(".", 1)[0] in OWN_LOGGERS
