"""Logging for the scripts: stderr only (stdout is for JSON), an optional debug file, and
redaction of every secret setting so passwords and tokens never reach a log."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

DEBUG_LOG_NAME = "givtcp_debug.log"


class RedactSecrets(logging.Filter):
    """Replace secret values in formatted messages with ***."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            for secret in self._secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def setup_logging(
    verbose: bool = False,
    debug_dir: str | Path | None = None,
    secrets: list[str] | None = None,
) -> Path | None:
    """Configure the root logger; returns the debug log path when one is written."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG)
    redact = RedactSecrets(secrets or [])
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    console.addFilter(redact)
    root.addHandler(console)

    debug_path = None
    if debug_dir is not None:
        from pathlib import Path  # only when debugging: the read path does without (~4 ms)

        debug_path = Path(debug_dir or ".") / DEBUG_LOG_NAME
        debug_path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(debug_path)
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(fmt)
        file_handler.addFilter(redact)
        root.addHandler(file_handler)
    # Third-party chatter stays out of the user's stderr unless debugging.
    for noisy in ("urllib3", "paho", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return debug_path
