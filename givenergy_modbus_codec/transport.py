"""The one module that owns sockets: a blocking client for the GivEnergy dongle.

Why blocking and not pymodbus' async client: read.py/write.py are one-shot cron jobs and
REST workers are sync; pymodbus' client expects transaction ids (the dongle has none),
and its import alone costs ~80 ms per call. The dongle rules we follow (protocol.md §9-§12):

* one request in flight, and requests sent at least ``min_spacing`` seconds apart (a slow
  answer already counts towards the gap, so spacing costs nothing at real-dongle latency);
* a response is tied to its request by shape only (frames.answers); the dongle copies every
  response to every client, so unmatched, bad-CRC, null and LAN-broadcast frames are dropped;
* heartbeats are answered at once;
* every wait is bounded; a dead address fails in seconds with a clear message;
* a cross-process file lock makes cron, Node-RED and REST workers take turns on the dongle.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import contextlib
import errno
import fcntl
import itertools
import logging
import os
import socket
import time
from typing import NamedTuple

from .errors import AnswerLost, InverterRefused, InverterTimeout, LockTimeout, TransportError
from .frames import (
    HEADER_SIZE,
    INVERTER_ADDRESS,
    BadFrame,
    ErrorResponse,
    Frame,
    Function,
    Heartbeat,
    ReadRequest,
    ReadResponse,
    Request,
    WriteRequest,
    WriteResponse,
    answers,
)
from .records import Record
from .stream import StreamDecoder

log = logging.getLogger(__name__)

DEFAULT_PORT = 8899


class _Garbled(Exception):
    """This attempt's answer came garbled (bad CRC, or cut short by the next frame): it costs
    one more request, sent at once, not a timeout."""


class _CutOff(InverterTimeout):
    """The timeout passed with only part of a frame received: a fault, not silence."""


class TransportConfig(NamedTuple):
    """Connection settings; the defaults follow what real dongles tolerate (protocol.md §10)."""

    host: str
    port: int = DEFAULT_PORT
    connect_timeout: float = 3.0
    request_timeout: float = 2.0
    retries: int = 2  # extra attempts after the first, per request
    retry_backoff: float = 0.5  # doubled after each failed attempt
    min_spacing: float = 0.25  # between the starts of two requests
    lock_path: str | os.PathLike[str] | None = None  # None: per-dongle file in the temp dir
    lock_timeout: float = 30.0

    def default_lock_path(self) -> str:
        safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in self.host)
        return os.path.join(temp_dir(), f"givtcp-dongle-{safe_host}-{self.port}.lock")


def temp_dir() -> str:
    """TMPDIR, TEMP or TMP, else /tmp: tempfile.gettempdir()'s first choices on Linux, without
    importing tempfile (~4 ms of every cron-started read.py)."""
    for name in ("TMPDIR", "TEMP", "TMP"):
        if value := os.environ.get(name):
            return os.path.abspath(value)
    return "/tmp"


class WriteOutcome(NamedTuple):
    """One register write: what was asked, what the inverter echoed and what it reads back."""

    register: int
    value: int
    echoed: int | None
    readback: int | None

    @property
    def ok(self) -> bool:
        return self.echoed == self.value and self.readback == self.value


class TransportStats(Record):
    """Counters for benchmarks and debugging: what one session cost the dongle."""

    _fields = (
        "connections",
        "requests",
        "retries",
        "heartbeats_answered",
        "frames_ignored",
        "bad_frames",
        "ignored_kinds",
    )
    __slots__ = _fields

    def __init__(
        self,
        connections: int = 0,
        requests: int = 0,
        retries: int = 0,
        heartbeats_answered: int = 0,
        frames_ignored: int = 0,
        bad_frames: int = 0,
        ignored_kinds: dict[str, int] | None = None,
    ) -> None:
        self.connections = connections
        self.requests = requests
        self.retries = retries
        self.heartbeats_answered = heartbeats_answered
        self.frames_ignored = frames_ignored
        self.bad_frames = bad_frames
        self.ignored_kinds: dict[str, int] = {} if ignored_kinds is None else ignored_kinds


class DongleLock:
    """Cross-process exclusive lock (flock) around a whole dongle session."""

    def __init__(self, path: str | os.PathLike[str], timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if time.monotonic() >= deadline:
                os.close(fd)
                raise LockTimeout(
                    f"another GivTCP process has held the dongle lock {self._path} for more than "
                    f"{self._timeout:.0f} s; check for a stuck read.py/write.py or raise the lock "
                    "timeout"
                )
            time.sleep(0.05)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class DongleClient:
    """A session with one dongle: lock, one TCP connection for all requests, bounded close.

    Use as a context manager::

        with DongleClient(TransportConfig("192.168.1.50")) as dongle:
            page = dongle.read(0x11, Function.READ_INPUT, 0, 60)
    """

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self.stats = TransportStats()
        self._sock: socket.socket | None = None
        self._decoder = StreamDecoder()
        self._lock = DongleLock(config.lock_path or config.default_lock_path(), config.lock_timeout)
        self._last_sent = -1e9
        self._ahead: Request | None = None  # sent by send_ahead(), answer not yet collected

    # -- session ---------------------------------------------------------------------------

    def __enter__(self) -> "DongleClient":
        self._lock.acquire()
        try:
            self._connect()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket (bounded: no lingering) and release the lock."""
        self._disconnect()
        self._lock.release()

    def _connect(self) -> None:
        cfg = self.config
        self._disconnect()
        # An ASCII host (an IP address, a plain name) goes to getaddrinfo as bytes: as text it
        # would be IDNA-encoded first, which imports the idna codec (~2 ms of every cron run).
        host = cfg.host.encode("ascii") if cfg.host.isascii() else cfg.host
        try:
            sock = socket.create_connection((host, cfg.port), timeout=cfg.connect_timeout)
        except TimeoutError as exc:
            raise TransportError(
                f"no answer from {cfg.host}:{cfg.port} within {cfg.connect_timeout:.0f} s: check "
                "INVERTOR_IP and that the dongle is on the network"
            ) from exc
        except OSError as exc:
            raise TransportError(
                f"cannot connect to the inverter dongle at {cfg.host}:{cfg.port}: "
                f"{exc.strerror or exc}. Check INVERTOR_IP/INVERTOR_PORT"
            ) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._decoder = StreamDecoder()
        self.stats.connections += 1
        log.debug("connected to %s:%s", cfg.host, cfg.port)

    def _disconnect(self) -> None:
        self._ahead = None  # its answer, if any, would come on the closed connection
        if self._sock is None:
            return
        sock, self._sock = self._sock, None
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    # -- requests --------------------------------------------------------------------------

    def read(
        self,
        device: int,
        function: int,
        base: int,
        count: int = 60,
        timeout: float | None = None,
        retries: int | None = None,
        retry_silence: bool = True,
    ) -> ReadResponse:
        """Read one bank; raises InverterTimeout (AnswerLost if not plain silence) /
        InverterRefused / TransportError.

        ``timeout``/``retries`` override the configured ones, e.g. short probes of batteries
        that may be absent (absent devices never answer); ``retry_silence=False`` spends the
        retries only on transport faults, so a silent address fails after one timeout.
        """
        request = ReadRequest(device, function, base, count)
        answer = self.exchange(
            request, retries=retries, timeout=timeout, retry_silence=retry_silence
        )
        assert isinstance(answer, ReadResponse)
        return answer

    def read_holding(
        self, base: int, count: int = 60, device: int = INVERTER_ADDRESS
    ) -> ReadResponse:
        return self.read(device, Function.READ_HOLDING, base, count)

    def read_input(
        self, base: int, count: int = 60, device: int = INVERTER_ADDRESS
    ) -> ReadResponse:
        return self.read(device, Function.READ_INPUT, base, count)

    def write(self, register: int, value: int, device: int = INVERTER_ADDRESS) -> WriteOutcome:
        """Write one holding register, then read it back: the outcome says both."""
        echoed: int | None = None
        try:
            answer = self.exchange(WriteRequest(device, register, value), retries=0)
            assert isinstance(answer, WriteResponse)
            echoed = answer.value
        except InverterTimeout:
            # The write may still have happened: the read-back below tells.
            log.warning("no echo for the write of HR%d; checking with a read-back", register)
        readback = self.read_holding(register, 1, device).values[0]
        return WriteOutcome(register, value, echoed, readback)

    def send_ahead(self, request: Request) -> None:
        """Send ``request`` now; a later ``exchange`` of the same request collects its answer.

        A cron-started read.py sends its first bank before it imports the decoder and report
        modules, so those imports overlap the dongle's latency instead of adding to it. A
        failed send is not an error here: ``exchange`` then sends again as usual.
        """
        assert self._sock is not None, "send_ahead needs an open session"
        try:
            self._send(request)
        except OSError as exc:
            log.debug("sending %s ahead failed: %s", _describe(request), exc)
            self._disconnect()
            return
        self._ahead = request

    def exchange(
        self,
        request: Request,
        retries: int | None = None,
        timeout: float | None = None,
        retry_silence: bool = True,
    ) -> Frame:
        """Send ``request`` and return its answer, with bounded retries and reconnects.

        ``retries`` bounds the retries after silence, a dropped connection or a frame cut off
        at the timeout; those wait ``retry_backoff`` (doubling) first, as a busy dongle needs.
        ``retry_silence=False`` gives up at the first plain silence (a probe). A garbled
        answer (bad CRC) is asked again at once, up to ``2 * retries`` times more: the dongle
        did answer, so each costs one latency, not a timeout. Raises AnswerLost rather than
        plain InverterTimeout when some attempt failed by a transport fault, not by silence.
        """
        cfg = self.config
        retries_left = cfg.retries if retries is None else retries
        reasks_left = 2 * retries_left  # garbled answers, on top: each costs one latency only
        backoff = cfg.retry_backoff
        last_problem = "no answer"
        faulted = False
        timeout = cfg.request_timeout if timeout is None else timeout
        sent_ahead, self._ahead = self._ahead == request, None
        for attempt in itertools.count():
            pause = 0.0
            try:
                if self._sock is None:
                    self._connect()
                sent = self._last_sent if sent_ahead and not attempt else self._send(request)
                return self._await(request, sent + timeout)
            except InverterRefused:
                raise
            except _Garbled as exc:
                last_problem, faulted = str(exc), True
                log.debug("attempt %d for %s failed: %s", attempt + 1, _describe(request), exc)
                if reasks_left:
                    reasks_left -= 1
                elif retries_left:
                    retries_left -= 1
                else:
                    break
            except (InverterTimeout, ConnectionError, TransportError, OSError) as exc:
                last_problem = str(exc) or type(exc).__name__
                log.debug("attempt %d for %s failed: %s", attempt + 1, _describe(request), exc)
                silence = type(exc) is InverterTimeout
                faulted = faulted or not silence
                if not isinstance(exc, InverterTimeout):
                    self._disconnect()
                if not retries_left or (silence and not retry_silence):
                    break
                retries_left -= 1
                pause, backoff = backoff, backoff * 2
            self.stats.retries += 1
            time.sleep(pause)
        error = AnswerLost if faulted else InverterTimeout
        raise error(
            f"the inverter did not answer {_describe(request)} after {attempt + 1} attempt(s) "
            f"({last_problem}); the dongle may be busy or the address wrong"
        )

    def _send(self, request: Request) -> float:
        """Send ``request`` no sooner than ``min_spacing`` after the last one; when it went."""
        assert self._sock is not None
        wait = self.config.min_spacing - (time.monotonic() - self._last_sent)
        if wait > 0:
            time.sleep(wait)
        self._sock.sendall(request.encode())
        self.stats.requests += 1
        self._last_sent = time.monotonic()
        log.debug("sent %s", _describe(request))
        return self._last_sent

    def _await(self, request: Request, deadline: float) -> Frame:
        """The answer to ``request``, answering heartbeats and dropping anything else."""
        assert self._sock is not None
        sent = self._last_sent
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                dropped = self._decoder.resync()
                if dropped is not None:
                    self._count_ignored(dropped)
                if dropped is not None and len(dropped.raw) >= HEADER_SIZE:  # not a stray byte
                    raise _CutOff(f"only part of a frame within {deadline - sent:.1f} s")
                raise InverterTimeout(f"no answer within {deadline - sent:.1f} s")
            self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionError("the dongle closed the connection")
            garbled = ""
            for frame in self._decoder.feed(data):
                if answers(request, frame):
                    if isinstance(frame, ErrorResponse):
                        raise InverterRefused(
                            f"the inverter refused {_describe(request)} (error frame): "
                            "that register bank or value is not supported by this model"
                        )
                    log.debug(
                        "answer to %s after %.3f s", _describe(request), time.monotonic() - sent
                    )
                    return frame
                self._handle_unsolicited(frame)
                suspect = frame.suspect if isinstance(frame, BadFrame) else None
                if suspect is not None and answers(request, suspect):
                    garbled = frame.reason
            if garbled:  # the rest of this read handled first (a heartbeat may follow it)
                raise _Garbled(f"its answer came garbled ({garbled})")

    def _handle_unsolicited(self, frame: Frame) -> None:
        if isinstance(frame, Heartbeat):
            assert self._sock is not None
            self._sock.sendall(frame.reply().encode())
            self.stats.heartbeats_answered += 1
            log.debug("answered a heartbeat from the dongle")
            return
        self._count_ignored(frame)

    def _count_ignored(self, frame: Frame) -> None:
        self.stats.frames_ignored += 1
        self.stats.ignored_kinds[frame.kind] = self.stats.ignored_kinds.get(frame.kind, 0) + 1
        if isinstance(frame, BadFrame):
            self.stats.bad_frames += 1
            log.debug("ignored bad frame: %s", frame.reason)
        else:
            log.debug("ignored a %s frame that answers no request of ours", frame.kind)


def _describe(request: Request) -> str:
    if isinstance(request, ReadRequest):
        bank = {Function.READ_HOLDING: "HR", Function.READ_INPUT: "IR"}.get(request.function, "fc")
        return f"{bank}({request.base},{request.count}) at {request.device:#04x}"
    return f"write HR{request.register}={request.value} at {request.device:#04x}"
