"""A tiny HTTP/JSON control endpoint, for driving a simulator running in another process.

Routes (all JSON; one request per connection):

    GET  /truth              true registers and plant state (Simulator.truth())
    GET  /requests?since=N   request log entries with seq > N
    GET  /faults             current fault switches
    POST /faults             {"latency": 0.3, "crc_error_rate": 0.5, ...} -> new switches
    POST /clock/advance      {"seconds": 3600} -> {"time": ...}
    POST /heartbeat          heartbeat to every client now

Hand-rolled on asyncio streams because the standard library's HTTP servers are thread-based
and the simulator already runs one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import Faults
from .server import RequestRecord, describe

log = logging.getLogger(__name__)

_MAX_BODY = 64 * 1024
_READ_TIMEOUT = 5.0


class HttpError(Exception):
    """An error answer: status code and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def record_json(record: RequestRecord) -> dict[str, Any]:
    """A request-log entry as JSON-friendly data."""
    return {
        "seq": record.seq,
        "plant_time": record.plant_time.isoformat(),
        "monotonic": record.time,
        "client": record.client,
        "kind": record.frame.kind,
        "request": describe(record.frame),
        "outcome": record.outcome,
        "detail": record.detail,
        "faults": list(record.faults),
    }


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


class ControlServer:
    """Serves the routes above; the callables come from the Simulator."""

    def __init__(
        self,
        truth: Callable[[], dict[str, Any]],
        records: Callable[[], list[RequestRecord]],
        faults: Faults,
        advance: Callable[[float], dt.datetime],
        heartbeat: Callable[[], Awaitable[None]],
    ) -> None:
        self._truth = truth
        self._records = records
        self._faults = faults
        self._advance = advance
        self._heartbeat = heartbeat
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        log.info("control endpoint on http://%s:%d/", host, bound)
        return bound

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target, body = await asyncio.wait_for(_read_request(reader), _READ_TIMEOUT)
            status, payload = 200, await self._route(method, target, body)
        except HttpError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except (TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            status, payload = 400, {"error": f"bad request: {exc}"}
        data = json.dumps(payload, default=_json_default, indent=1).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
        head = (
            f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + data)
            await writer.drain()
        writer.close()

    async def _route(self, method: str, target: str, body: bytes) -> Any:
        url = urlsplit(target)
        routes = {
            "/truth": ("GET",),
            "/requests": ("GET",),
            "/faults": ("GET", "POST"),
            "/clock/advance": ("POST",),
            "/heartbeat": ("POST",),
        }
        if url.path not in routes:
            raise HttpError(404, f"no route {url.path}; try {', '.join(routes)}")
        if method not in routes[url.path]:
            raise HttpError(405, f"{url.path} takes {' or '.join(routes[url.path])}")
        if url.path == "/truth":
            return self._truth()
        if url.path == "/requests":
            since = int(parse_qs(url.query).get("since", ["0"])[0])
            return [record_json(r) for r in self._records() if r.seq > since]
        if url.path == "/faults":
            if method == "POST":
                changes = _json_object(body)
                try:
                    self._faults.update(changes)
                except ValueError as exc:
                    raise HttpError(400, str(exc)) from None
            return self._faults.as_dict()
        if url.path == "/clock/advance":
            seconds = _json_object(body).get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise HttpError(400, 'send {"seconds": <non-negative number>}')
            return {"time": self._advance(float(seconds))}
        await self._heartbeat()
        return {"sent": True}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    request_line = (await reader.readline()).decode("latin-1").split()
    if len(request_line) != 3:
        raise ValueError("malformed request line")
    length = 0
    while (line := (await reader.readline()).decode("latin-1").strip()) != "":
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if not 0 <= length <= _MAX_BODY:
        raise ValueError("body too large")
    body = await reader.readexactly(length) if length else b""
    return request_line[0].upper(), request_line[1], body


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise HttpError(400, f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise HttpError(400, "body must be a JSON object")
    return value
