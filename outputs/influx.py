"""InfluxDB v2 output: every numeric value of a read, stamped with the read's time; nothing lost.

Layout (GivTCP v1.0's, extended; v1.0 wrote one line ``<serial>,tagKey=GivReal pv_power=...``):

* measurement: the inverter serial; battery values use the battery serial (their keys repeat
  inverter keys such as "Battery Charge Energy Total kWh", which would otherwise mix).
* tags: ``tagKey=GivReal`` (v1.0's), ``serial`` = inverter serial, ``group`` = the JSON group
  ("Power", "Energy/Today", ...) and, on battery points, ``battery`` = the battery serial.
* fields: the key lower-cased with every run of other characters than a-z and 0-9 turned into
  one "_": "PV Power" -> ``pv_power``, "Export Energy Total kWh" -> ``export_energy_total_kwh``,
  "Battery Cells 1-4 Temperature" -> ``battery_cells_1_4_temperature``. For every v1.0 key this
  is v1.0's ``key.lower().replace(" ", "_")``. Numbers only, always as floats (v1.0 wrote floats
  too, so its fields keep their type); booleans as 1.0/0.0; text (serials, "HHMM" slot times,
  schedule states) is left out, because a field must never change type and VictoriaMetrics
  stores strings as 0.
* groups: Power, Power/Flows, Energy/Today, Energy/Total, Invertor Details, Control and every
  battery's Battery Details; one point per group (per battery), all with the read's timestamp
  in milliseconds. "Data Quality" (rejected values) is never written.

When InfluxDB cannot be reached or refuses the write, the points go to a spool file in the state
folder, ``influx-spool-<url>-<org>-<bucket>.lp`` (plain line protocol, millisecond precision:
``influx write -p ms -f FILE`` replays it by hand), and the run fails with OutputError; the next
run writes the spool first, with its original timestamps, then its own points, then empties the
spool. The spool is bounded (oldest points are dropped with a warning) and guarded by a file
lock, so overlapping runs neither lose nor repeat points. Spooled points that the server
rejects as such (HTTP 400/422, e.g. a field type conflict) are dropped and reported: resending
them can never succeed and would block every later write.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import urllib3
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.write_api import SYNCHRONOUS

from givtcp import report
from givtcp.files import write_atomic
from outputs import OutputError, Publication, os_reason, require_serial, slug

log = logging.getLogger(__name__)

INVERTER_GROUPS = (
    report.GROUP_POWER,
    report.GROUP_FLOWS,
    report.GROUP_TODAY,
    report.GROUP_TOTAL,
    report.GROUP_DETAILS,
    report.GROUP_CONTROL,
)
TIMEOUT_SECONDS = 10.0  # per HTTP request
BATCH_LINES = 5000  # InfluxDB's recommended batch size, for replaying a long spool
# About 34 hours of one-minute runAll reads with two batteries (~4 kB per read).
MAX_SPOOL_BYTES = 8 * 1024 * 1024
MAX_SPOOL_NAME = 160  # characters of URL, org and bucket in the spool file name
LOCK_TIMEOUT_SECONDS = 120.0  # a run holding the spool lock is bounded by its HTTP timeouts
DATA_REFUSED = (400, 422)  # the server rejects the points themselves: resending cannot help


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def _point(measurement: str, tags: dict[str, str], values: dict[str, Any], ms: int) -> str | None:
    point = Point(measurement)
    for name, value in tags.items():
        point.tag(name, value)
    fields = 0
    for key, value in values.items():
        number = _number(value)
        if number is not None:
            point.field(slug(key), number)
            fields += 1
    return point.time(ms, WritePrecision.MS).to_line_protocol() if fields else None


def points(publication: Publication) -> list[str]:
    """The publication as line-protocol lines (one per group and per battery)."""
    ms = round(publication.timestamp * 1000)
    base = {"tagKey": "GivReal", "serial": publication.serial}
    lines = [
        _point(publication.serial, {**base, "group": group}, publication.groups[group], ms)
        for group in INVERTER_GROUPS
        if group in publication.groups
    ]
    for battery, values in publication.groups.get(report.GROUP_BATTERIES, {}).items():
        tags = {**base, "group": report.GROUP_BATTERIES, "battery": battery}
        lines.append(_point(battery, tags, values, ms))
    return [line for line in lines if line]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


class Spool:
    """Points not yet delivered: a line-protocol file, rewritten atomically, under a flock."""

    def __init__(self, path: Path, max_bytes: int = MAX_SPOOL_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes

    @contextlib.contextmanager
    def locked(self, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
        """Hold the spool's lock file, so two runs never read or rewrite the spool at once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if time.monotonic() >= deadline:
                    raise OutputError(
                        f"another GivTCP run has held {lock_path} for more than {timeout:.0f} s;"
                        " this run's points were not written"
                    )
                time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # also releases the lock

    def read(self) -> list[str]:
        try:
            text = self.path.read_text(errors="replace")  # as write_atomic wrote it
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    def save(self, lines: list[str]) -> None:
        """Replace the spool by ``lines`` (newest last), dropping the oldest beyond the bound."""
        if not lines:
            self.path.unlink(missing_ok=True)
            return
        size, keep = 0, len(lines)
        while keep and size + len(lines[keep - 1].encode()) + 1 <= self.max_bytes:
            keep -= 1
            size += len(lines[keep].encode()) + 1
        if keep:
            log.warning(
                "InfluxDB spool %s is full (%d bytes): dropped the %d oldest points",
                self.path,
                self.max_bytes,
                keep,
            )
        write_atomic(self.path, "".join(line + "\n" for line in lines[keep:]))


class InfluxSink:
    name = "InfluxDB"

    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        spool: Spool,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._url = url
        self._token = token
        self._org = org
        self._bucket = bucket
        self.spool = spool
        self._timeout = timeout

    def publish(self, publication: Publication) -> None:
        require_serial(publication, "InfluxDB")
        try:
            self._deliver(points(publication))
        except OSError as exc:  # the spool itself (state folder unwritable, disk full)
            raise OutputError(
                f"cannot use the InfluxDB spool {self.spool.path}: {exc}; points not written"
            ) from exc

    def _deliver(self, new: list[str]) -> None:
        """Spooled points first, then ``new``; whatever is not delivered goes (back) to the
        spool, all under the spool's lock."""
        with self.spool.locked():
            pending = self.spool.read()
            if pending:
                log.info("InfluxDB: writing %d spooled points first", len(pending))
            batches = [
                (True, pending[i : i + BATCH_LINES]) for i in range(0, len(pending), BATCH_LINES)
            ]
            batches += [(False, new)] if new else []
            refused, note = 0, ""
            with InfluxDBClient(
                url=self._url,
                token=self._token or None,
                org=self._org,
                timeout=int(self._timeout * 1000),
            ) as client:
                write_api = client.write_api(write_options=SYNCHRONOUS)
                for index, (spooled, batch) in enumerate(batches):
                    try:
                        write_api.write(
                            self._bucket, self._org, batch, write_precision=WritePrecision.MS
                        )
                    except (InfluxDBError, urllib3.exceptions.HTTPError, OSError) as exc:
                        if spooled and getattr(exc, "status", None) in DATA_REFUSED:
                            # The server refuses these points themselves: resending cannot
                            # help, and keeping them would block every later write.
                            refused += len(batch)
                            note = (
                                f"{self._describe(exc)}; dropped {refused} spooled points it "
                                "refused a second time"
                            )
                            continue
                        unsent = [line for _, rest in batches[index:] for line in rest]
                        self.spool.save(unsent)
                        raise OutputError(
                            f"{self._describe(exc)}; {len(unsent)} points kept in {self.spool.path}"
                            f" for the next run{'; ' + note if note else ''}"
                        ) from exc
            self.spool.save([])
        log.info(
            "InfluxDB: wrote %d points (and %d spooled) to bucket %s of org %s at %s",
            len(new),
            len(pending),
            self._bucket,
            self._org,
            self._url,
        )
        if note:
            raise OutputError(f"{note}; this run's points were written")

    def _describe(self, exc: BaseException) -> str:
        status = getattr(exc, "status", None)
        if status in (401, 403):
            return (
                f"InfluxDB at {self._url} refused INFLUX_TOKEN (HTTP {status}): the token is "
                f"wrong or may not write to bucket {self._bucket!r} of org {self._org!r}"
            )
        if status is not None:
            message = " ".join(str(getattr(exc, "message", "") or "").split())[:200]
            hint = (
                f" (check INFLUX_ORG {self._org!r} and INFLUX_BUCKET {self._bucket!r})"
                if status == 404
                else ""
            )
            return f"InfluxDB at {self._url} answered HTTP {status}: {message}{hint}"
        if isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
            exc, urllib3.exceptions.NewConnectionError
        ):
            return f"InfluxDB at INFLUX_URL {self._url} did not answer within {self._timeout:g} s"
        return f"cannot reach InfluxDB at INFLUX_URL {self._url}: {os_reason(exc)}"


def create(settings: Any) -> InfluxSink:
    url = settings.influx_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise OutputError(
            f"INFLUX_URL must start with http:// or https:// (e.g. http://localhost:8086), "
            f"got {settings.influx_url!r}"
        )
    if not settings.influx_bucket:
        raise OutputError("INFLUX_BUCKET is empty")
    name = "-".join(_safe(part) for part in (url, settings.influx_org, settings.influx_bucket))
    if len(name) > MAX_SPOOL_NAME:  # file names have at most 255 bytes: cut, and tell by a hash
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = f"{name[: MAX_SPOOL_NAME - 17]}-{digest}"
    spool = Spool(settings.state_dir / f"influx-spool-{name}.lp")
    return InfluxSink(
        url, settings.influx_token, settings.influx_org, settings.influx_bucket, spool
    )
