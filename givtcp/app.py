"""What read.py, write.py and REST.py do, without their command-line or HTTP clothing.

Exit codes (documented in the README; Node-RED and cron users route on them):
  0 success; 1 inverter unreachable or no valid answer; 2 bad usage, payload or setting
  (nothing sent); 3 data read but an output failed; 4 a write was sent but did not read back.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from givenergy_modbus_codec import reader
from givenergy_modbus_codec.errors import InverterTimeout, TransportError
from givenergy_modbus_codec.model import Battery, Inverter, decode_battery, decode_inverter
from givenergy_modbus_codec.transport import DongleClient, TransportConfig

from . import report
from .config import Settings

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INVERTER = 1
EXIT_USAGE = 2
EXIT_OUTPUT = 3
EXIT_WRITE_UNCONFIRMED = 4

READ_FUNCTIONS: dict[str, str] = {
    "getTimeslots": "charge/discharge time slots (reads HR 0-119)",
    "getModesandTimes": "time slots, battery mode and control state, inverter details "
    "(reads HR 0-119)",
    "getCombinedStats": "power, power flows, energy today/total, inverter temperature and "
    "battery details (reads HR 0-59, IR 0-59, IR 180-239, battery pages)",
    "runAll": "everything above merged into one JSON object",
}
READ_ALIASES = {"runALL": "runAll"}  # the original's README spells it so
BATTERY_REPROBE_SECONDS = 24 * 3600


def transport_config(settings: Settings) -> TransportConfig:
    settings.require_inverter()
    return TransportConfig(host=settings.invertor_ip, port=settings.invertor_port)


# -- battery presence ----------------------------------------------------------------------


def _battery_cache_path(settings: Settings) -> Path:
    safe = "".join(c if c.isalnum() else "_" for c in settings.invertor_ip)
    return settings.state_dir / f"batteries-{safe}-{settings.invertor_port}.json"


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so concurrent readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def battery_plan(settings: Settings) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(known battery addresses to read, addresses to probe) for this run.

    NUM_BATTERIES fixes the count. Otherwise all six addresses are probed once a day and the
    ones that answered with a valid page are remembered in the state folder.
    """
    first = reader.FIRST_BATTERY_ADDRESS
    if settings.num_batteries is not None:
        return tuple(range(first, first + settings.num_batteries)), ()
    try:
        cached = json.loads(_battery_cache_path(settings).read_text())
        if time.time() - cached["probed_at"] < BATTERY_REPROBE_SECONDS:
            return tuple(cached["addresses"]), ()
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return (), tuple(range(first, first + reader.MAX_BATTERIES))


def _remember_batteries(settings: Settings, addresses: list[int]) -> None:
    try:
        payload = json.dumps({"probed_at": time.time(), "addresses": addresses})
        _write_atomic(_battery_cache_path(settings), payload)
    except OSError as exc:
        log.warning("cannot remember the battery list in %s: %s", settings.state_dir, exc)


# -- reading -------------------------------------------------------------------------------


@dataclass
class ReadResult:
    """One read: the published groups plus what the sinks need to know about them."""

    inverter: Inverter
    batteries: list[Battery]
    groups: dict[str, Any]
    meta: dict[tuple[str, str], report.Entry] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    timestamp: float = 0.0


def canonical_function(name: str) -> str | None:
    name = READ_ALIASES.get(name, name)
    return name if name in READ_FUNCTIONS else None


def read_inverter(function: str, settings: Settings) -> ReadResult:
    """Read the banks ``function`` needs in one dongle session and build its groups."""
    banks = reader.READ_FUNCTION_BANKS[function]
    with_batteries = function in reader.FUNCTIONS_WITH_BATTERIES
    known, probes = battery_plan(settings) if with_batteries else ((), ())
    started = time.time()
    with DongleClient(transport_config(settings)) as dongle:
        snapshot = reader.read_banks(dongle, banks, known, probes)
    if not snapshot.holding or any(label in snapshot.failures for label in _required(banks)):
        reasons = "; ".join(f"{k}: {v}" for k, v in snapshot.failures.items())
        raise InverterTimeout(f"the inverter gave no valid answer ({reasons})")
    inverter = decode_inverter(snapshot.holding, snapshot.input)
    batteries = []
    for address, registers in sorted(snapshot.batteries.items()):
        battery = decode_battery(registers)
        valid, reason = battery.is_valid_page()
        if valid:
            batteries.append(battery)
        elif address not in probes:
            log.warning("battery page at %#04x rejected: %s", address, reason)
    if probes:
        present = [
            address
            for address, registers in sorted(snapshot.batteries.items())
            if decode_battery(registers).is_valid_page()[0]
        ]
        _remember_batteries(settings, present)
    return build_result(function, inverter, batteries, snapshot, settings.print_raw, started)


def _required(banks: tuple[reader.Bank, ...]) -> list[str]:
    # IR(180,60) is optional: not every model implements it.
    return [bank.label for bank in banks if bank != reader.IR_180]


def build_result(
    function: str,
    inverter: Inverter,
    batteries: list[Battery],
    snapshot: reader.RegisterSnapshot,
    print_raw: bool,
    timestamp: float,
) -> ReadResult:
    entries: list[report.Entry] = []
    if function in ("getCombinedStats", "runAll"):
        entries += report.stats_entries(
            report.battery_energy_registers(inverter), inverter.family == "AC"
        )
    if function in ("getTimeslots", "getModesandTimes", "runAll"):
        entries += report.timeslot_entries()
    if function in ("getModesandTimes", "runAll"):
        entries += report.control_entries()
    groups, rejected = report.build_groups(entries, inverter.values, inverter.invalid)
    details = report.inverter_details(inverter, full=function != "getCombinedStats")
    if function != "getTimeslots":
        groups.setdefault(report.GROUP_DETAILS, {}).update(details)
    if function in ("getCombinedStats", "runAll") and batteries:
        battery_groups, battery_rejected = report.battery_details(batteries)
        groups[report.GROUP_BATTERIES] = battery_groups
        rejected.update(battery_rejected)
    if print_raw:
        groups["raw/holding"] = report.raw_registers(snapshot.holding, "holding")
        if snapshot.input:
            groups["raw/input"] = report.raw_registers(snapshot.input, "input")
    if rejected:
        groups[report.GROUP_QUALITY] = {"rejected": rejected}
    return ReadResult(
        inverter=inverter,
        batteries=batteries,
        groups=groups,
        meta=report.metadata(entries + report.battery_entries()),
        rejected=rejected,
        timestamp=timestamp,
    )


def unreachable_message(exc: TransportError) -> str:
    return f"inverter not read: {exc}"


# -- publishing ----------------------------------------------------------------------------


def publication(result: ReadResult) -> Any:
    """The sink-facing view of a read result."""
    from outputs import Publication

    inverter = result.inverter
    return Publication(
        serial=inverter.serial,
        groups=result.groups,
        meta=result.meta,
        device={
            "manufacturer": "GivEnergy",
            "model": " ".join(filter(None, (inverter.family, inverter.generation))),
            "firmware": inverter.firmware,
        },
        timestamp=result.timestamp,
    )


def publish(result: ReadResult, settings: Settings) -> list[str]:
    """Deliver to every enabled sink; one failing sink does not stop the others.

    Returns one message per failed sink (empty when all delivered).
    """
    from outputs import OutputError, enabled_sinks

    sinks, failures = enabled_sinks(settings)
    item = publication(result)
    for sink in sinks:
        try:
            sink.publish(item)
        except OutputError as exc:
            failures.append(f"{sink.name} output failed: {exc}")
    return failures


# -- writing -------------------------------------------------------------------------------


@dataclass
class WriteReport:
    """What write.py prints: per register the value asked, the echo and the read-back."""

    function: str
    rows: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return all(row.get("ok") for row in self.rows)

    def as_dict(self) -> dict[str, Any]:
        if self.ok:
            result = f"{self.function}: success"
        else:
            failed = next(row for row in self.rows if not row.get("ok"))
            result = f"{self.function}: HR{failed['register']} did not read back as asked"
        return {"result": result, "writes": self.rows}


def plan_control(function: str, payload: Any, context: Any = None) -> list[Any]:
    """Validate and plan without touching the inverter (ValidationError -> exit 2)."""
    from givenergy_modbus_codec.commands import CONTROL_FUNCTIONS, plan_writes

    spec = CONTROL_FUNCTIONS.get(function)
    if spec is not None and spec.needs_context and context is None:
        return []  # planned after the battery size is read from the inverter
    return plan_writes(function, payload, context)


def write_inverter(function: str, payload: Any, settings: Settings) -> WriteReport:
    """Read the holding registers, write what differs, read every register back.

    Registers already at the asked value are not written again (writes wear the inverter's
    flash) but are still reported with their read-back. The first register that does not read
    back as asked stops the sequence; the rest are reported as not sent.
    """
    from givenergy_modbus_codec.commands import plan_writes

    with DongleClient(transport_config(settings)) as dongle:
        snapshot = reader.read_banks(dongle, (reader.HR_0, reader.HR_60))
        if not snapshot.holding:
            raise InverterTimeout("could not read the holding registers before writing")
        inverter = decode_inverter(snapshot.holding, {})
        writes = plan_writes(function, payload, inverter.context())
        rows: list[dict[str, Any]] = []
        stopped = False
        for write in writes:
            row: dict[str, Any] = {"register": write.register, "name": write.name}
            row["value"] = write.value
            if stopped:
                rows.append({**row, "sent": False, "ok": False})
                continue
            current = snapshot.holding.get(write.register)
            if current == write.value:
                rows.append(
                    {**row, "echo": None, "readback": current, "unchanged": True, "ok": True}
                )
                continue
            outcome = dongle.write(write.register, write.value)
            snapshot.holding[write.register] = outcome.readback
            rows.append(
                {**row, "echo": outcome.echoed, "readback": outcome.readback, "ok": outcome.ok}
            )
            stopped = not outcome.ok
    return WriteReport(function, rows)


# -- shared reads (REST) -------------------------------------------------------------------

SHARED_READ_SECONDS = 5.0


def _shared_cache_path(settings: Settings, function: str) -> Path:
    safe = "".join(c if c.isalnum() else "_" for c in settings.invertor_ip)
    return settings.state_dir / f"rest-{safe}-{settings.invertor_port}-{function}.json"


def _fresh_cache(path: Path, window: float) -> dict[str, Any] | None:
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or time.time() - cached.get("read_at", 0) > window:
        return None
    return cached.get("groups")


def read_shared(
    function: str, settings: Settings, window: float = SHARED_READ_SECONDS
) -> tuple[dict[str, Any], list[str]]:
    """Read for a REST request; requests within ``window`` seconds share one inverter read.

    REST workers are separate processes, so the sharing goes through a file per function: the
    first worker reads (under a per-function lock) and stores the groups; workers that queued
    behind it find them fresh and answer from them. Returns (groups, output failures).
    """
    from givenergy_modbus_codec.transport import DongleLock

    path = _shared_cache_path(settings, function)
    groups = _fresh_cache(path, window)
    if groups is not None:
        return groups, []
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = DongleLock(path.with_suffix(".lock"), timeout=60.0)
    lock.acquire()
    try:
        groups = _fresh_cache(path, window)
        if groups is not None:
            return groups, []
        result = read_inverter(function, settings)
        _write_atomic(
            path, json.dumps({"read_at": time.time(), "groups": result.groups}, default=str)
        )
        failures = publish(result, settings)
        return json.loads(json.dumps(result.groups, default=str)), failures
    finally:
        lock.release()


def forget_shared_reads(settings: Settings) -> None:
    """After a write, cached reads are stale: drop them."""
    safe = "".join(c if c.isalnum() else "_" for c in settings.invertor_ip)
    for path in settings.state_dir.glob(f"rest-{safe}-{settings.invertor_port}-*.json"):
        path.unlink(missing_ok=True)
