"""stdout JSON: one object per run, the default output. stdout carries nothing else."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

from outputs import OutputError, Publication

log = logging.getLogger(__name__)


class JsonSink:
    name = "json"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def publish(self, publication: Publication) -> None:
        stream = self._stream or sys.stdout
        try:
            json.dump(publication.groups, stream, ensure_ascii=False, default=str)
            stream.write("\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot write JSON to stdout: {exc}") from exc
        log.info("JSON: printed %d groups on stdout", len(publication.groups))


def create(settings: Any) -> JsonSink:
    return JsonSink()
