"""The GivTCP v1.0 output contract: groups and key names built from the decoded model.

Each published key is one row of ``ENTRIES``: group, key, the model values it is computed
from, how, and its unit / Home Assistant device and state class. A key is published only when
every value it depends on decoded within bounds; otherwise it is left out and listed, with the
reason, under "Data Quality" (a value we are not sure of is never published as if it were true).

Sign conventions (registers.md §1.2), kept from v1.0:
  "Grid Power"    + exporting, − importing
  "Battery Power" + discharging, − charging
  "Invertor Power" + inverter delivering to the AC side, − drawing from it (AC charging)
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from givenergy_modbus_codec.registers import TABLES, Bank

Values = Mapping[str, Any]

GROUP_POWER = "Power"
GROUP_FLOWS = "Power/Flows"
GROUP_TODAY = "Energy/Today"
GROUP_TOTAL = "Energy/Total"
GROUP_DETAILS = "Invertor Details"
GROUP_TIMESLOTS = "Timeslots"
GROUP_CONTROL = "Control"
GROUP_BATTERIES = "Battery Details"
GROUP_QUALITY = "Data Quality"
GROUP_TIMED_ACTION = "Timed Action"  # detail of a timed action: published, not an entity


class Entry(NamedTuple):
    """One published value and its metadata."""

    group: str
    key: str
    sources: tuple[str, ...]
    compute: Callable[[Values], Any]
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None


def _power(group: str, key: str, sources: tuple[str, ...], fn: Callable[[Values], Any]) -> Entry:
    return Entry(group, key, sources, fn, "W", "power", "measurement")


def _energy(
    group: str, key: str, sources: tuple[str, ...], fn: Callable[[Values], Any], counter: bool
) -> Entry:
    # Raw inverter counters only ever increase (daily ones reset at midnight, which HA's
    # total_increasing treats as a new cycle). Values computed from several counters can dip
    # (Load = inverter out - AC charge - export + import ...): they get no state class, so HA
    # neither offers them as energy-dashboard sources nor keeps statistics that would dip.
    return Entry(group, key, sources, fn, "kWh", "energy", "total_increasing" if counter else None)


class NotKnown(ValueError):
    """Raised by a compute function whose value cannot be known from this read; the key is
    left out and the message goes to "Data Quality"."""


def _counter(group: str, key: str, name: str) -> Entry:
    return _energy(group, key, (name,), lambda v: round(v[name], 1), counter=True)


def _flows(v: Values) -> dict[str, int]:
    """Split what the house, the battery and the grid take (Load, Charge and Export Power) by
    where it came from, so that the flows add up exactly to each of these three.

    The grid and the battery gave what their meters say (Import, Discharge Power), as far as
    the takers took that much; solar gave the rest: PV Power less what the inverter lost
    converting it, plus solar the inverter does not see (AC-coupled PV). The split follows
    the documented priority: solar serves the house first, then the battery, then the grid;
    the battery serves the house before the grid; the grid covers the rest.
    """
    load = v["p_load_demand"]
    grid = v["p_grid_out"]
    battery = v["p_battery"]
    export, import_ = max(grid, 0), max(-grid, 0)
    discharge, charge = max(battery, 0), max(-battery, 0)
    taken = load + charge + export
    from_grid = min(import_, taken)
    from_battery = min(discharge, taken - from_grid)
    solar = taken - from_grid - from_battery
    s2h = min(solar, load)
    s2b = min(solar - s2h, charge)
    s2g = solar - s2h - s2b
    b2h = min(from_battery, load - s2h)
    b2g = from_battery - b2h
    return {
        "Solar to House": s2h,
        "Solar to Battery": s2b,
        "Solar to Grid": s2g,
        "Battery to House": b2h,
        "Battery to Grid": b2g,
        "Grid to House": load - s2h - b2h,
        "Grid to Battery": charge - s2b,
    }


# PV Power is a source too: a block whose PV Power is implausible is not trusted for flows.
_FLOW_SOURCES = ("p_pv1", "p_pv2", "p_load_demand", "p_grid_out", "p_battery")


_UNSEEN_PV = (
    "the inverter has never seen PV (PV Energy Total 0): on an AC-coupled inverter the PV is "
    "behind another inverter, so the house's energy cannot be computed from these counters"
)


def _pv_seen(v: Values, ac: bool) -> None:
    """On AC-coupled models the PV counters cover only PV the inverter measures; when it
    measures none, the house's energy is not known (the v1.0 formula then gave -5.8 kWh)."""
    if ac and not v["e_pv_total"]:
        raise NotKnown(_UNSEEN_PV)


def _load_energy(prefix: str, ac: bool) -> Callable[[Values], float]:
    """v1.0's load formula: inverter out − AC charge − net export (+ PV on AC-coupled)."""

    def compute(v: Values) -> float:
        _pv_seen(v, ac)
        inverter, ac_in = (
            v[f"e_inverter_out_{prefix}"],
            v[f"e_{'inverter_in' if prefix == 'total' else 'ac_charge'}_{prefix}"],
        )
        export, import_ = v[f"e_grid_out_{prefix}"], v[f"e_grid_in_{prefix}"]
        load = (inverter - ac_in) - (export - import_)
        if ac:
            load += v["e_pv_total"] if prefix == "total" else v["e_pv1_day"] + v["e_pv2_day"]
        return round(load, 3)

    return compute


def _self_consumption(pv: Callable[[Values], float], export: str, ac: bool) -> Callable:
    """PV − export (v1.0's formula, unclipped: below zero it is rejected, not shown as 0)."""

    def compute(v: Values) -> float:
        _pv_seen(v, ac)
        return round(pv(v) - v[export], 2)

    return compute


def _import_for_load(ac: bool) -> Callable[[Values], float]:
    """Import − AC charge: the grid's energy that did not go into the battery. An AC-coupled
    inverter also AC-charges from the PV, so there it says nothing about the import."""

    def compute(v: Values) -> float:
        if ac:
            raise NotKnown(
                "an AC-coupled inverter charges from the PV as well as from the grid, so AC "
                "Charge does not tell how much of the import went to the battery"
            )
        return round(v["e_grid_in_day"] - v["e_ac_charge_day"], 1)

    return compute


def stats_entries(battery_energy: Mapping[str, str], ac_coupled: bool) -> list[Entry]:
    """getCombinedStats' keys. ``battery_energy`` names the model-specific battery registers."""
    chg_day, dis_day = battery_energy["charge_day"], battery_energy["discharge_day"]
    pv_seen = ("e_pv_total",) if ac_coupled else ()
    entries = [
        _power(GROUP_POWER, "PV Power String 1", ("p_pv1",), lambda v: v["p_pv1"]),
        _power(GROUP_POWER, "PV Power String 2", ("p_pv2",), lambda v: v["p_pv2"]),
        _power(GROUP_POWER, "PV Power", ("p_pv1", "p_pv2"), lambda v: v["p_pv1"] + v["p_pv2"]),
        _power(GROUP_POWER, "Grid Power", ("p_grid_out",), lambda v: v["p_grid_out"]),
        _power(GROUP_POWER, "Import Power", ("p_grid_out",), lambda v: max(-v["p_grid_out"], 0)),
        _power(GROUP_POWER, "Export Power", ("p_grid_out",), lambda v: max(v["p_grid_out"], 0)),
        _power(GROUP_POWER, "EPS Power", ("p_eps_backup",), lambda v: v["p_eps_backup"]),
        _power(GROUP_POWER, "Invertor Power", ("p_inverter_out",), lambda v: v["p_inverter_out"]),
        _power(
            GROUP_POWER,
            "AC Charge Power",
            ("p_inverter_out",),
            lambda v: max(-v["p_inverter_out"], 0),
        ),
        _power(GROUP_POWER, "Load Power", ("p_load_demand",), lambda v: v["p_load_demand"]),
        _power(
            GROUP_POWER,
            "Self Consumption Power",
            ("p_load_demand", "p_grid_out"),
            lambda v: max(v["p_load_demand"] - max(-v["p_grid_out"], 0), 0),
        ),
        _power(GROUP_POWER, "Battery Power", ("p_battery",), lambda v: v["p_battery"]),
        _power(GROUP_POWER, "Charge Power", ("p_battery",), lambda v: max(-v["p_battery"], 0)),
        _power(GROUP_POWER, "Discharge Power", ("p_battery",), lambda v: max(v["p_battery"], 0)),
        Entry(
            GROUP_POWER,
            "SOC",
            ("battery_percent",),
            lambda v: v["battery_percent"],
            "%",
            "battery",
            "measurement",
        ),
    ]
    for flow in _flows(dict.fromkeys(_FLOW_SOURCES, 0)):
        entries.append(
            _power(GROUP_FLOWS, flow, _FLOW_SOURCES, lambda v, flow=flow: _flows(v)[flow])
        )
    entries += [
        _energy(
            GROUP_TODAY,
            "Battery Throughput Today kWh",
            (chg_day, dis_day),
            lambda v: round(v[chg_day] + v[dis_day], 1),
            counter=True,
        ),
        _energy(
            GROUP_TODAY,
            "PV Energy Today kWh",
            ("e_pv1_day", "e_pv2_day"),
            lambda v: round(v["e_pv1_day"] + v["e_pv2_day"], 1),
            counter=True,
        ),
        _counter(GROUP_TODAY, "Import Energy Today kWh", "e_grid_in_day"),
        _counter(GROUP_TODAY, "Export Energy Today kWh", "e_grid_out_day"),
        _counter(GROUP_TODAY, "AC Charge Energy Today kWh", "e_ac_charge_day"),
        _counter(GROUP_TODAY, "Invertor Energy Today kWh", "e_inverter_out_day"),
        _counter(GROUP_TODAY, "Battery Charge Energy Today kWh", chg_day),
        _counter(GROUP_TODAY, "Battery Discharge Energy Today kWh", dis_day),
        _energy(
            GROUP_TODAY,
            "Import for Load Energy Today kWh",
            ("e_grid_in_day", "e_ac_charge_day"),
            _import_for_load(ac_coupled),
            counter=False,
        ),
        _energy(
            GROUP_TODAY,
            "Load Energy Today kWh",
            (
                "e_inverter_out_day",
                "e_ac_charge_day",
                "e_grid_out_day",
                "e_grid_in_day",
                "e_pv1_day",
                "e_pv2_day",
                *pv_seen,
            ),
            _load_energy("day", ac_coupled),
            counter=False,
        ),
        _energy(
            GROUP_TODAY,
            "Self Consumption Energy Today kWh",
            ("e_pv1_day", "e_pv2_day", "e_grid_out_day", *pv_seen),
            _self_consumption(
                lambda v: v["e_pv1_day"] + v["e_pv2_day"], "e_grid_out_day", ac_coupled
            ),
            counter=False,
        ),
        _counter(GROUP_TOTAL, "Export Energy Total kWh", "e_grid_out_total"),
        _counter(GROUP_TOTAL, "Battery Throughput Total kWh", "e_battery_throughput_total"),
        _counter(GROUP_TOTAL, "AC Charge Energy Total kWh", "e_inverter_in_total"),
        _counter(GROUP_TOTAL, "Import Energy Total kWh", "e_grid_in_total"),
        _counter(GROUP_TOTAL, "Invertor Energy Total kWh", "e_inverter_out_total"),
        _counter(GROUP_TOTAL, "PV Energy Total kWh", "e_pv_total"),
        _energy(
            GROUP_TOTAL,
            "Load Energy Total kWh",
            (
                "e_inverter_out_total",
                "e_inverter_in_total",
                "e_grid_out_total",
                "e_grid_in_total",
                "e_pv_total",
            ),
            _load_energy("total", ac_coupled),
            counter=False,
        ),
        _energy(
            GROUP_TOTAL,
            "Self Consumption Energy Total kWh",
            ("e_pv_total", "e_grid_out_total"),
            _self_consumption(lambda v: v["e_pv_total"], "e_grid_out_total", ac_coupled),
            counter=False,
        ),
        Entry(
            GROUP_DETAILS,
            "Invertor Temperature",
            ("temp_inverter_heatsink",),
            lambda v: v["temp_inverter_heatsink"],
            "°C",
            "temperature",
            "measurement",
        ),
    ]
    if "charge_total" in battery_energy:
        chg_total, dis_total = battery_energy["charge_total"], battery_energy["discharge_total"]
        entries += [
            _counter(GROUP_TOTAL, "Battery Charge Energy Total kWh", chg_total),
            _counter(GROUP_TOTAL, "Battery Discharge Energy Total kWh", dis_total),
        ]
    return entries


def hhmm(value: Any) -> str:
    """A slot time as v1.0's 4-character "HHMM" string."""
    if isinstance(value, dt.time):
        return f"{value.hour:02d}{value.minute:02d}"
    return f"{int(value):04d}"


MODES = {(4, 1, 0): 1, (100, 1, 1): 3, (4, 0, 1): 4, (4, 1, 1): 5}


def battery_mode(v: Values) -> int | str:
    """v1.0's mode number from (HR110 reserve, HR27 power mode, HR59 discharge enable)."""
    key = (v["battery_soc_reserve"], int(v["battery_power_mode"]), int(v["enable_discharge"]))
    return MODES.get(key, "unknown")


def _state(name: str) -> Callable[[Values], str]:
    return lambda v: "Active" if v[name] else "Paused"


SLOT_KEYS = (
    ("Discharge start time slot 1", "discharge_slot_1_start"),
    ("Discharge end time slot 1", "discharge_slot_1_end"),
    ("Discharge start time slot 2", "discharge_slot_2_start"),
    ("Discharge end time slot 2", "discharge_slot_2_end"),
    ("Charge start time slot 1", "charge_slot_1_start"),
    ("Charge end time slot 1", "charge_slot_1_end"),
    ("Charge start time slot 2", "charge_slot_2_start"),
    ("Charge end time slot 2", "charge_slot_2_end"),
)


def timeslot_entries(capabilities: Any = None) -> list[Entry]:
    """v1.0's slot keys; with ``capabilities`` (model.Capabilities) also slots 3-10 where the
    model has them and the battery pause slot on AC / All-in-One."""
    keys = list(SLOT_KEYS)
    if capabilities is not None:
        for kind in ("Charge", "Discharge"):
            count = capabilities.charge_slots if kind == "Charge" else capabilities.discharge_slots
            for k in range(3, count + 1):
                keys += [
                    (f"{kind} start time slot {k}", f"{kind.lower()}_slot_{k}_start"),
                    (f"{kind} end time slot {k}", f"{kind.lower()}_slot_{k}_end"),
                ]
        if capabilities.ac_bank:
            keys += [
                ("Battery pause start time slot", "battery_pause_slot_start"),
                ("Battery pause end time slot", "battery_pause_slot_end"),
            ]
    return [
        Entry(GROUP_TIMESLOTS, key, (name,), lambda v, name=name: hhmm(v[name]))
        for key, name in keys
    ]


PAUSE_MODE_NAMES = {0: "Disabled", 1: "PauseCharge", 2: "PauseDischarge", 3: "PauseBoth"}


def mode_name(v: Values) -> str:
    """GivTCP v3's mode name (what Predbat compares), registers.md §9."""
    eco, discharge = int(v["battery_power_mode"]), int(v["enable_discharge"])
    if discharge:
        return "Timed Demand" if eco else "Timed Export"
    return "Eco (Paused)" if v["battery_soc_reserve"] == 100 or not eco else "Eco"


def model_control_entries(capabilities: Any) -> list[Entry]:
    """Control keys that depend on the model: per-slot targets, pause, EPS (issue 12)."""
    pct = {"unit": "%", "state_class": "measurement"}
    entries = [
        Entry(
            GROUP_CONTROL,
            "Mode Name",
            ("battery_soc_reserve", "battery_power_mode", "enable_discharge"),
            mode_name,
        ),
        Entry(
            GROUP_CONTROL,
            "Export Limit",
            ("grid_port_max_power_output",),
            lambda v: v["grid_port_max_power_output"],
            "W",
            "power",
            "measurement",
        ),
        Entry(
            GROUP_CONTROL,
            "Active Power Rate",
            ("active_power_rate",),
            lambda v: v["active_power_rate"],
            **pct,
        ),
        Entry(
            GROUP_CONTROL,
            "Battery Calibration",
            ("battery_calibration_stage",),
            lambda v: _CALIBRATION.get(v["battery_calibration_stage"], "Unknown"),
        ),
    ]
    if capabilities.slot_targets:
        for kind, count in (
            ("Charge", capabilities.charge_slots),
            ("Discharge", capabilities.discharge_slots),
        ):
            for k in range(1, count + 1):
                name = f"{kind.lower()}_target_soc_{k}"
                entries.append(
                    Entry(
                        GROUP_CONTROL,
                        f"{kind} Target SOC {k}",
                        (name,),
                        lambda v, name=name: v[name],
                        **pct,
                    )
                )
    if capabilities.ac_bank:
        entries += [
            Entry(
                GROUP_CONTROL,
                "Battery Pause Mode",
                ("battery_pause_mode",),
                lambda v: PAUSE_MODE_NAMES.get(v["battery_pause_mode"], "Unknown"),
            ),
            Entry(GROUP_CONTROL, "EPS", ("enable_eps",), lambda v: bool(v["enable_eps"])),
        ]
    return entries


_CALIBRATION = {0: "Off", 1: "Discharging", 3: "Charging"}


def timed_action_summary(timed: Mapping[str, Any]) -> str:
    """One line for Control/Timed Action: what runs until when, or what was just restored."""
    if "in_progress" in timed:
        action = timed["in_progress"]
        return f"{action['function']} until {action['ends']} ({action['slot']})"
    if "restored" in timed:
        done = timed["restored"]
        state = "restored" if all(r["ok"] for r in done["writes"]) else "restore incomplete"
        return f"{done['function']} ended {done['ended']}: {state}"
    return f"not restored yet: {timed.get('restore_failed', 'unknown')}"


def control_entries() -> list[Entry]:
    pct = {"unit": "%", "state_class": "measurement"}
    return [
        Entry(
            GROUP_CONTROL,
            "Mode",
            ("battery_soc_reserve", "battery_power_mode", "enable_discharge"),
            battery_mode,
        ),
        # v1.0 meaning: HR114 (later GivTCP calls it Battery_Power_Cutoff); see README.
        Entry(
            GROUP_CONTROL,
            "Battery Power Reserve",
            ("battery_discharge_min_power_reserve",),
            lambda v: v["battery_discharge_min_power_reserve"],
            **pct,
        ),
        Entry(
            GROUP_CONTROL,
            "Battery SOC Reserve",
            ("battery_soc_reserve",),
            lambda v: v["battery_soc_reserve"],
            **pct,
        ),
        Entry(
            GROUP_CONTROL,
            "Target SOC",
            ("charge_target_soc",),
            lambda v: v["charge_target_soc"],
            **pct,
        ),
        Entry(
            GROUP_CONTROL,
            "Charge Target Enabled",
            ("enable_charge_target",),
            lambda v: bool(v["enable_charge_target"]),
        ),
        Entry(GROUP_CONTROL, "Charge Schedule State", ("enable_charge",), _state("enable_charge")),
        Entry(
            GROUP_CONTROL,
            "Discharge Schedule State",
            ("enable_discharge",),
            _state("enable_discharge"),
        ),
        Entry(
            GROUP_CONTROL,
            "Battery Charge Rate",
            ("battery_charge_limit",),
            lambda v: v["battery_charge_limit"],
        ),
        Entry(
            GROUP_CONTROL,
            "Battery Discharge Rate",
            ("battery_discharge_limit",),
            lambda v: v["battery_discharge_limit"],
        ),
    ]


def build_groups(
    entries: list[Entry],
    values: Values,
    invalid: Mapping[str, str],
    held: Mapping[str, float] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Evaluate entries; return (groups, rejected) where rejected maps "group/key" to why.

    ``held`` names the values put back from an earlier read (-> when that read was, epoch
    seconds): a key computed from several values is never computed from values of different
    reads (a held counter from before midnight minus a fresh one is no energy at all).
    """
    held = held or {}
    groups: dict[str, dict[str, Any]] = {}
    rejected: dict[str, str] = {}
    for entry in entries:
        where = f"{entry.group}/{entry.key}"
        bad = [f"{name}: {invalid[name]}" for name in entry.sources if name in invalid]
        missing = [name for name in entry.sources if name not in values and name not in invalid]
        if bad or missing:
            rejected[where] = "; ".join(bad + [f"{name}: not read" for name in missing])
            continue
        reads = {held.get(name) for name in entry.sources}
        if len(reads) > 1:
            old = [name for name in entry.sources if name in held]
            rejected[where] = (
                f"not computed: {', '.join(old)} held from an earlier read, the rest read now "
                "(values of different reads are never mixed)"
            )
            continue
        try:
            value = entry.compute(values)
        except NotKnown as exc:
            rejected[where] = str(exc)
            continue
        if isinstance(value, float) and not math.isfinite(value):
            rejected[where] = f"computed {value}, not a number"
            continue
        if entry.unit == "kWh" and value < 0:
            rejected[where] = (
                f"computed {value} kWh, below zero: the counters it is computed from do not "
                "cover every flow"
            )
            continue
        groups.setdefault(entry.group, {})[entry.key] = value
    return groups, rejected


def metadata(entries: list[Entry]) -> dict[tuple[str, str], Entry]:
    """(group, key) -> entry, for sinks that need units and classes (MQTT discovery, HA)."""
    return {(e.group, e.key): e for e in entries}


def battery_energy_registers(inverter: Any) -> dict[str, str]:
    """Which registers hold battery energy: Gen1 hybrids keep the authoritative daily values
    at IR182/183 and totals at IR180/181; AC, AIO and Gen2 use IR36/37 (registers.md §7)."""
    if inverter.family == "Hybrid" and inverter.generation == "Gen1":
        return {
            "charge_day": "e_battery_charge_day_gen1",
            "discharge_day": "e_battery_discharge_day_gen1",
            "charge_total": "e_battery_charge_total_gen1",
            "discharge_total": "e_battery_discharge_total_gen1",
        }
    names = {"charge_day": "e_battery_charge_day", "discharge_day": "e_battery_discharge_day"}
    if inverter.values.get("e_battery_charge_total_2"):  # 0 on models without IR194-197
        names["charge_total"] = "e_battery_charge_total_2"
        names["discharge_total"] = "e_battery_discharge_total_2"
    return names


_BATTERY_TYPES = {0: "Lead Acid", 1: "Lithium"}
_METER_TYPES = {0: "EM418", 1: "EM115"}


def inverter_details(inverter: Any, full: bool) -> dict[str, Any]:
    """ "Invertor Details": identity always; the v1.0 getModesandTimes keys when ``full``."""
    v = inverter.values
    details: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is not None:
            details[key] = value

    put("Invertor Serial Number", inverter.serial)
    if not full:
        return details
    put("Battery Type", _BATTERY_TYPES.get(v.get("battery_type")))
    put("Battery Capacity kWh", inverter.battery_capacity_kwh)
    put("Battery Serial Number", v.get("first_battery_serial_number"))
    put("Modbus Version", v.get("modbus_version"))
    put("Meter Type", _METER_TYPES.get(v.get("meter_type")))
    put("Invertor Type", inverter.legacy_type)
    put("Invertor Model", inverter.family)
    put("Invertor Generation", inverter.generation)
    put("Firmware Version", inverter.firmware)
    put("Rated Power W", inverter.rated_power_w)
    system_time = inverter.system_time
    put("Invertor Time", system_time.isoformat(sep=" ") if system_time else None)
    return details


def _battery_value(
    group: str,
    key: str,
    name: str,
    unit: str | None,
    device_class: str | None,
    state_class: str | None = "measurement",
) -> Entry:
    return Entry(group, key, (name,), lambda v: v[name], unit, device_class, state_class)


def battery_entries() -> list[Entry]:
    """Per-battery keys (group "Battery Details", one sub-object per battery serial)."""
    g = GROUP_BATTERIES
    entries = [
        _battery_value(g, "Battery SOC", "soc", "%", "battery"),
        _battery_value(g, "Battery Voltage", "v_out", "V", "voltage"),
        _battery_value(g, "Battery Current", "i_battery", "A", "current"),
        _battery_value(g, "Battery Cells Voltage Sum", "v_cells_sum", "V", "voltage"),
        _battery_value(g, "Battery Design Capacity Ah", "cap_design", "Ah", None),
        _battery_value(g, "Battery Full Capacity Ah", "cap_calibrated", "Ah", None),
        _battery_value(g, "Battery Remaining Capacity Ah", "cap_remaining", "Ah", None),
        _battery_value(g, "Battery Cycles", "num_cycles", None, None, "total_increasing"),
        _battery_value(g, "Battery Cells", "num_cells", None, None, None),
        _battery_value(g, "Battery Firmware Version", "bms_firmware_version", None, None, None),
        _battery_value(g, "Battery BMS Temperature", "t_bms_mosfet", "°C", "temperature"),
        _battery_value(g, "Battery Max Cell Temperature", "t_max", "°C", "temperature"),
        _battery_value(g, "Battery Min Cell Temperature", "t_min", "°C", "temperature"),
        _battery_value(
            g,
            "Battery Charge Energy Total kWh",
            "e_battery_charge_total",
            "kWh",
            "energy",
            "total_increasing",
        ),
        _battery_value(
            g,
            "Battery Discharge Energy Total kWh",
            "e_battery_discharge_total",
            "kWh",
            "energy",
            "total_increasing",
        ),
    ]
    for cell in range(1, 17):
        entries.append(
            _battery_value(g, f"Battery Cell {cell} Voltage", f"v_cell_{cell:02d}", "V", "voltage")
        )
    for first in (1, 5, 9, 13):
        name = f"t_cells_{first:02d}_{first + 3:02d}"
        entries.append(
            _battery_value(
                g, f"Battery Cells {first}-{first + 3} Temperature", name, "°C", "temperature"
            )
        )
    return entries


def battery_details(batteries: list[Any]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """{battery serial: {key: value}} and rejected values ("Battery Details/<serial>/<key>")."""
    details: dict[str, dict[str, Any]] = {}
    rejected: dict[str, str] = {}
    for battery in batteries:
        groups, bad = build_groups(battery_entries(), battery.values, battery.invalid)
        values = groups.get(GROUP_BATTERIES, {})
        values = {"Battery Serial Number": battery.serial, **values}
        details[battery.serial] = values
        for key, reason in bad.items():
            rejected[f"{GROUP_BATTERIES}/{battery.serial}/{key.split('/', 1)[1]}"] = reason
    return details, rejected


def raw_registers(registers: Mapping[int, int], bank: str, table: Any = None) -> dict[str, int]:
    """v1.0's raw dump: "<name>(<register>)" for named registers, "HR<n>"/"IR<n>" otherwise.
    ``table``: the model family's rows for this bank (default: the single-phase map)."""
    if table is None:
        table = TABLES[Bank.HOLDING if bank == "holding" else Bank.INPUT]
    names = {reg.addresses[0]: reg.name for reg in table}
    prefix = "HR" if bank == "holding" else "IR"
    return {
        (f"{names[address]}({address})" if address in names else f"{prefix}{address}"): raw
        for address, raw in sorted(registers.items())
    }
