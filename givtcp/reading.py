"""Reading the inverter: one dongle session, plausibility re-reads, last-good checks, groups."""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from givenergy_modbus_codec import families, manifest, reader
from givenergy_modbus_codec.errors import NoValidData, TransportError, UnsupportedModel
from givenergy_modbus_codec.model import (
    INVERTER_SERIAL_PATTERN,
    Battery,
    Inverter,
    decode_battery,
    decode_inverter,
)
from givenergy_modbus_codec.records import Record
from givenergy_modbus_codec.transport import DongleClient

from . import detection, family_report, hv_batteries, quality, report
from .batteries import remember_batteries
from .config import Settings

log = logging.getLogger(__name__)

READ_FUNCTIONS: dict[str, str] = {
    "getTimeslots": "charge/discharge time slots (reads HR 0-119)",
    "getModesandTimes": "time slots, battery mode and control state, inverter details "
    "(reads HR 0-119)",
    "getCombinedStats": "power, power flows, energy today/total, inverter temperature and "
    "battery details (reads HR 0-59, IR 0-59, IR 180-239, battery pages)",
    "runAll": "everything above merged into one JSON object",
}
assert READ_FUNCTIONS.keys() == reader.READ_FUNCTION_BANKS.keys()


class ReadResult(Record):
    """One read: the published groups plus what the sinks need to know about them."""

    _fields = ("inverter", "batteries", "groups", "meta", "rejected", "timestamp")
    __slots__ = _fields

    def __init__(
        self,
        inverter: Inverter,
        batteries: list[Battery],
        groups: dict[str, Any],
        meta: dict[tuple[str, str], report.Entry] | None = None,
        rejected: dict[str, str] | None = None,
        timestamp: float = 0.0,
    ) -> None:
        self.inverter = inverter
        self.batteries = batteries
        self.groups = groups
        self.meta: dict[tuple[str, str], report.Entry] = {} if meta is None else meta
        self.rejected: dict[str, str] = {} if rejected is None else rejected
        self.timestamp = timestamp

    def has_values(self) -> bool:
        """False when nothing but identity and quality notes would be published."""
        skip = {report.GROUP_DETAILS, report.GROUP_QUALITY, "raw/holding", "raw/input"}
        details = self.groups.get(report.GROUP_DETAILS, {})
        return any(v for g, v in self.groups.items() if g not in skip) or any(
            k != "Invertor Serial Number" for k in details
        )


BLOCK_RETRIES = 2  # extra reads of a bank that came back with implausible values


class _Decoded(NamedTuple):
    inverter: Inverter
    batteries: dict[int, Battery]  # address -> battery whose page is valid
    bad_pages: dict[int, str]  # address -> why its page was rejected


def _decode(snapshot: reader.RegisterSnapshot) -> _Decoded:
    batteries: dict[int, Battery] = {}
    bad_pages: dict[int, str] = {}
    for address, registers in sorted(snapshot.batteries.items()):
        battery = decode_battery(registers)
        valid, reason = battery.is_valid_page()
        if valid:
            batteries[address] = battery
        else:
            bad_pages[address] = reason
    return _Decoded(decode_inverter(snapshot.holding, snapshot.input), batteries, bad_pages)


def _suspect_banks(decoded: _Decoded, known: tuple[int, ...]) -> list[reader.Bank]:
    """Banks worth reading again: input banks holding implausible values (a glitching dongle
    substitutes whole blocks), HR(0,60) with a garbled serial, bad pages of known batteries."""
    banks: dict[reader.Bank, None] = {}
    for name in decoded.inverter.invalid:
        bank = reader.bank_of(name)
        if bank is not None and bank.function == reader.IR_0.function:
            banks[bank] = None
    serial = decoded.inverter.serial
    if serial is None or not INVERTER_SERIAL_PATTERN.fullmatch(serial):
        banks[reader.HR_0] = None
    for address in decoded.bad_pages:
        if address in known:
            banks[reader.battery_bank(address - reader.FIRST_BATTERY_ADDRESS)] = None
    return list(banks)


def _confirm_counters(
    dongle: DongleClient,
    decoded: _Decoded,
    histories: dict[str, quality.History],
    where: Callable[[reader.Bank], reader.Bank] = lambda bank: bank,
) -> None:
    """Counters with no history yet (the first run) cannot be checked against the past. A
    garbling dongle repeats its garbage, so agreeing reads prove nothing about a read that
    showed implausible values: such counters are not trusted at all. The others are read once
    more, and only values that both reads agree on are kept."""
    new_counters = {
        name
        for name in decoded.inverter.values
        if name in quality.COUNTERS
        and name not in histories.get(_inverter_key(decoded), quality.History()).values
    }
    tainted = sorted(
        name
        for name in decoded.inverter.invalid
        if (bank := reader.bank_of(name)) is not None and bank.function == reader.IR_0.function
    )
    if new_counters and tainted:
        _reject(decoded.inverter, dict.fromkeys(new_counters, _untrusted(tainted)))
        new_counters = set()
    banks = {reader.bank_of(name) for name in new_counters} - {None}
    addresses = []
    for address, battery in decoded.batteries.items():
        if histories.get(_battery_key(battery), quality.History()).values:
            continue
        if battery.invalid:
            counters = [n for n in battery.values if n in quality.COUNTERS]
            _reject(battery, dict.fromkeys(counters, _untrusted(sorted(battery.invalid))))
        else:
            addresses.append(address)
    addresses = tuple(addresses)
    if not banks and not addresses:
        return
    ordered = tuple(where(b) for b in (reader.IR_0, reader.IR_180) if b in banks)
    log.info(
        "no last good values yet for %d counters and %d batteries: confirming them by a second "
        "read",
        len(new_counters),
        len(addresses),
    )
    try:
        rereads = [_decode(reader.read_banks(dongle, ordered, addresses))]
    except TransportError as exc:
        why = f"could not be confirmed by a second read ({exc})"
        _reject(decoded.inverter, dict.fromkeys(new_counters, why))
        for address in addresses:
            battery = decoded.batteries[address]
            _reject(battery, {n: why for n in battery.values if n in quality.COUNTERS})
        return
    _reject(
        decoded.inverter,
        quality.agree(
            {n: decoded.inverter.values[n] for n in new_counters},
            *(r.inverter.values for r in rereads),
        ),
    )
    for address in addresses:
        battery = decoded.batteries[address]
        _reject(
            battery,
            quality.agree(
                battery.values,
                *(r.batteries[address].values for r in rereads if address in r.batteries),
            ),
        )


def _settle_serial(inverter: Inverter, histories: dict[str, quality.History]) -> dict[str, str]:
    """A serial still garbled after the re-reads is never published nor used (it names the
    MQTT topics, the client and the state): the serial last read right at this address
    stands in for it, or, with none remembered, it is left out. Returns the "held" note."""
    serial = inverter.serial
    if serial is None or INVERTER_SERIAL_PATTERN.fullmatch(serial):
        return {}
    why = (
        f"{serial!r} does not match [A-Z]{{2}}\\d{{4}}[A-Z]\\d{{3}} after {BLOCK_RETRIES + 1} reads"
    )
    remembered = [
        (h.seen_at.get("serial_number", 0.0), h.values["serial_number"])
        for key, h in histories.items()
        if key.startswith("inverter:")
        and isinstance(h.values.get("serial_number"), str)
        and INVERTER_SERIAL_PATTERN.fullmatch(h.values["serial_number"])
    ]
    del inverter.values["serial_number"]
    if not remembered:
        inverter.invalid["serial_number"] = f"{why}; no serial remembered: left out"
        log.warning("inverter serial %s; none remembered, left out", why)
        return {}
    inverter.values["serial_number"] = max(remembered)[1]
    log.warning("inverter serial %s; the remembered %s used", why, inverter.serial)
    return {"serial_number": f"{why}; the serial remembered from the last good read used"}


def _untrusted(tainted: list[str]) -> str:
    shown = ", ".join(tainted[:3]) + (f" and {len(tainted) - 3} more" if len(tainted) > 3 else "")
    return (
        f"no last good value to check it against, and this read held implausible values "
        f"({shown}): a first reading is trusted only from clean blocks"
    )


def _reject(model: Inverter | Battery, reasons: dict[str, str]) -> None:
    for name, reason in reasons.items():
        model.values.pop(name, None)
        model.invalid[name] = reason


def _inverter_key(decoded: _Decoded) -> str:
    return f"inverter:{decoded.inverter.serial}"


def _battery_key(battery: Battery) -> str:
    return f"battery:{battery.serial}"


def _clean_readings(model: Inverter | Battery, names: Iterable[str]) -> dict[str, Any]:
    """The values of ``names`` read from blocks with no implausible value this run: only these
    may build up a case against a last good value (a glitching dongle garbles whole blocks)."""
    if model.invalid and isinstance(model, Battery):
        return {}  # one page: any bad value taints all of it
    dirty = {reader.bank_of(name) for name in model.invalid}
    return {name: model.values[name] for name in names if reader.bank_of(name) not in dirty}


def _apply_history(
    decoded: _Decoded, histories: dict[str, quality.History], settings: Settings
) -> tuple[dict[str, dict[str, str]], dict[str, float]]:
    """Check counters against the last good run (re-baselining those that have consistently
    disagreed with it), hold fresh last-good values, remember this run's good ones.

    Returns the quality notes ("held" and "rebaselined" values, keyed like the rejected ones)
    and the inverter's held values -> when they were read (never mixed with fresh ones).
    """
    now = time.time()
    inverter = decoded.inverter
    rated = inverter.rated_power_w
    system_time = inverter.system_time or dt.datetime.now().replace(microsecond=0)
    clock = system_time.isoformat()
    notes: dict[str, dict[str, str]] = {"held": {}, "rebaselined": {}}
    held_at: dict[str, float] = {}
    models: list[tuple[str, Inverter | Battery, str]] = [(_inverter_key(decoded), inverter, "")]
    models += [(_battery_key(b), b, f"battery {b.serial} ") for b in decoded.batteries.values()]
    addresses = {_battery_key(b): a for a, b in decoded.batteries.items()}
    for key, model, label in models:
        history = histories.get(key, quality.History())
        rejected = quality.check_counters(model.values, history, now, clock, rated)
        readings = _clean_readings(model, rejected)
        accepted, challengers = quality.challenge(readings, history, now, rated)
        for name, why in accepted.items():
            del rejected[name]
            log.warning("%s%s %s", label, name, why)
            notes["rebaselined"][f"{label}{name}"] = why
        _reject(model, rejected)
        model_held = quality.hold(
            model.values, model.invalid, history, now, settings.hold_seconds, clock
        )
        for name in model_held:
            model.invalid.pop(name)
            if model is inverter:
                held_at[name] = history.seen_at.get(name, 0.0)
        histories[key] = quality.remember(
            history, model.values, model_held, now, clock, challengers
        )
        histories[key].address = addresses.get(key, histories[key].address)
        notes["held"].update({f"{label}{name}": why for name, why in model_held.items()})
    notes["held"].update(_hold_pages(decoded, histories, now, settings.hold_seconds))
    if inverter.serial is None:  # no identity: nothing of this read is kept for it
        histories.pop(_inverter_key(decoded), None)
    return notes, held_at


def _hold_pages(
    decoded: _Decoded, histories: dict[str, quality.History], now: float, hold_seconds: float
) -> dict[str, str]:
    """A battery page rejected as a whole (all zeros, garbled) carries no usable serial: the
    battery last seen at that address keeps its fresh last good values, as any held value.
    Moves those pages from ``decoded.bad_pages`` to ``decoded.batteries``; returns the notes."""
    notes: dict[str, str] = {}
    present = {_battery_key(b) for b in decoded.batteries.values()}
    for address, reason in list(decoded.bad_pages.items()):
        candidates = [
            (max(h.seen_at.values(), default=0.0), key)
            for key, h in histories.items()
            if key.startswith("battery:") and h.address == address and key not in present
        ]
        if not candidates:
            continue
        last_seen, key = max(candidates)
        values = quality.hold_page(histories[key], now, hold_seconds)
        if "serial_number" not in values:
            continue
        decoded.batteries[address] = Battery(values=values, invalid={}, registers={})
        del decoded.bad_pages[address]
        notes[f"battery {values['serial_number']}"] = (
            f"page at {address:#04x} rejected ({reason}); its last good values from "
            f"{now - last_seen:.0f} s ago held"
        )
    ordered = sorted(decoded.batteries.items())  # by address, as read
    decoded.batteries.clear()
    decoded.batteries.update(ordered)
    return notes


def read_inverter(
    function: str, settings: Settings, dongle: DongleClient | None = None
) -> ReadResult:
    """Read the banks ``function`` needs in one dongle session, check them, build its groups.

    ``dongle`` is an open session to use (read.py opens it early, see there); without one a
    session is opened and closed here. Banks with implausible values are read again (up to
    BLOCK_RETRIES times); counters are checked against the last good run (or confirmed by
    repeated reads on the first run).
    """
    if dongle is None:
        with DongleClient(settings.transport_config()) as session:
            return read_inverter(function, settings, session)
    with_batteries = function in reader.FUNCTIONS_WITH_BATTERIES
    started = time.time()
    state = quality.StateFile(settings.state_file("last-good"))
    # The model decides the banks and addresses (a refused model stops here: exit 1).
    planned = detection.read_planned(dongle, function, settings, with_batteries)
    snapshot, known, probes = planned.snapshot, planned.known, planned.probes
    if planned.family.controls == manifest.CONTROLS_SINGLE_PHASE and reader.HR_60.label in (
        snapshot.banks_read
    ):
        _read_model_banks(dongle, snapshot)
    timed = _timed_session(dongle, snapshot, settings)
    decoded = _decode(snapshot)
    for _ in range(BLOCK_RETRIES):
        suspects = [planned.where(b) for b in _suspect_banks(decoded, known)]
        if not suspects:
            break
        log.info("reading again: %s", ", ".join(b.label for b in suspects))
        reader.read_again(dongle, suspects, snapshot)
        decoded = _decode(snapshot)
    with state.locked() as histories:
        serial_note = _settle_serial(decoded.inverter, histories)
        _confirm_counters(dongle, decoded, histories, planned.where)
        notes, held_at = _apply_history(decoded, histories, settings)
        notes["held"].update(serial_note)
    if probes:
        remember_batteries(settings, sorted(decoded.batteries), snapshot.uncertain)
    for address, reason in decoded.bad_pages.items():
        if address in known:
            log.warning("battery page at %#04x rejected: %s", address, reason)
    result = build_result(
        function,
        decoded.inverter,
        list(decoded.batteries.values()),
        snapshot,
        settings.print_raw,
        started,
        held_at,
    )
    for address, reason in decoded.bad_pages.items():
        if address in known:
            result.rejected[f"{report.GROUP_BATTERIES}/{address:#04x}"] = reason
    if planned.hv_stacks:
        hv_batteries.add_to(result, planned.hv_stacks)
    if "serial_number" in decoded.inverter.invalid:
        why = decoded.inverter.invalid["serial_number"]
        result.rejected[f"{report.GROUP_DETAILS}/Invertor Serial Number"] = why
    for key, reason in result.rejected.items():
        log.info("rejected %s: %s", key, reason)
    for name, reason in notes["held"].items():
        log.info("held %s: %s", name, reason)
    stats = dongle.stats
    log.info(
        "read %s in %.2f s: %d requests, %d retries, %d frames ignored, %d batteries",
        function,
        time.time() - started,
        stats.requests,
        stats.retries,
        stats.frames_ignored,
        len(decoded.batteries),
    )
    if timed is not None and report.GROUP_CONTROL in result.groups:
        # A short text for the Control sensor (HA states stop at 255 characters), the
        # register-by-register detail in its own group.
        result.groups[report.GROUP_CONTROL]["Timed Action"] = report.timed_action_summary(timed)
        result.groups[report.GROUP_TIMED_ACTION] = timed
    for kind, names in notes.items():
        if names:
            result.groups.setdefault(report.GROUP_QUALITY, {})[kind] = names
    if result.rejected:
        result.groups.setdefault(report.GROUP_QUALITY, {})["rejected"] = result.rejected
    if not result.has_values():
        raise NoValidData(
            "the inverter answered, but no value passed the plausibility checks: "
            + "; ".join(f"{k}: {v}" for k, v in list(result.rejected.items())[:5])
        )
    return result


def timed_action_at_start(
    dongle: DongleClient, holding: dict[int, int], settings: Settings
) -> dict[str, Any] | None:
    """At the start of a read or write run: a timed action's state, restored now if it has
    ended (the inverter already stopped it at the slot end), else what runs until when. Most
    runs have none: one stat() call, and timed_actions is not even imported."""
    import os

    if not holding or not os.path.exists(settings.state_file("timed-action")):
        return None
    from . import timed_actions

    return timed_actions.on_session(dongle, holding, settings)


def _timed_session(
    dongle: DongleClient, snapshot: reader.RegisterSnapshot, settings: Settings
) -> dict[str, Any] | None:
    """timed_action_at_start for a read: a restore that fails is reported, not fatal."""
    try:
        return timed_action_at_start(dongle, snapshot.holding, settings)
    except TransportError as exc:
        log.warning("timed action not restored yet: %s", exc)
        return {"restore_failed": str(exc)}


def _read_model_banks(dongle: DongleClient, snapshot: reader.RegisterSnapshot) -> None:
    """HR240-299 (extended slots) and HR300-359 (AC bank) where the model has them, so every
    slot and control it has is shown; a bank that does not answer leaves its keys out."""
    capabilities = decode_inverter(snapshot.holding, {}).capabilities()
    bases = ([240] if capabilities.charge_slots > 2 else []) + (
        [300] if capabilities.ac_bank else []
    )
    for base in bases:
        bank = reader.Bank(reader.HR_0.device, reader.HR_0.function, base)
        try:
            extra = reader.read_banks(dongle, (bank,))
        except TransportError as exc:
            snapshot.failures[bank.label] = str(exc)
            continue
        snapshot.holding.update(extra.holding)


def build_result(
    function: str,
    inverter: Inverter,
    batteries: list[Battery],
    snapshot: reader.RegisterSnapshot,
    print_raw: bool,
    timestamp: float,
    held: dict[str, float] | None = None,
) -> ReadResult:
    entries = family_report.entries(function, inverter)
    if entries is None:  # the single-phase contract
        entries = []
        if function in ("getCombinedStats", "runAll"):
            entries += report.stats_entries(
                report.battery_energy_registers(inverter), inverter.family == "AC"
            )
        capabilities = inverter.capabilities() if inverter.device_type_code else None
        if function in ("getTimeslots", "getModesandTimes", "runAll"):
            entries += report.timeslot_entries(capabilities)
        if function in ("getModesandTimes", "runAll"):
            entries += report.control_entries()
            if capabilities is not None:
                entries += report.model_control_entries(capabilities)
        entries = family_report.published(entries, inverter)
    groups, rejected = report.build_groups(entries, inverter.values, inverter.invalid, held)
    details = report.inverter_details(inverter, full=function != "getCombinedStats")
    if function != "getTimeslots":
        groups.setdefault(report.GROUP_DETAILS, {}).update(details)
    if function in ("getCombinedStats", "runAll") and batteries:
        battery_groups, battery_rejected = report.battery_details(batteries)
        groups[report.GROUP_BATTERIES] = battery_groups
        rejected.update(battery_rejected)
    if print_raw:
        tables = families.tables(getattr(inverter.family_spec, "key", None))
        groups["raw/holding"] = report.raw_registers(snapshot.holding, "holding", tables.holding)
        if snapshot.input:
            groups["raw/input"] = report.raw_registers(snapshot.input, "input", tables.input)
    return ReadResult(
        inverter=inverter,
        batteries=batteries,
        groups=groups,
        meta=report.metadata(entries + report.battery_entries()),
        rejected=rejected,
        timestamp=timestamp,
    )


def unreachable_message(exc: TransportError) -> str:
    if isinstance(exc, UnsupportedModel):
        return str(exc)  # the model is known not to be readable: say exactly that
    return f"inverter not read: {exc}"
