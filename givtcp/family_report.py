"""Published keys for families whose registers differ from the single-phase map: the v1.0
group and key names wherever the meaning is the same, family-only values in their own groups
(report.py holds the single-phase contract; this only says which model values feed it).
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

from typing import Any

from .report import (
    GROUP_DETAILS,
    GROUP_FLOWS,
    GROUP_POWER,
    GROUP_TODAY,
    GROUP_TOTAL,
    Entry,
    Values,
    _counter,
    _energy,
    _flows,
    _power,
    timeslot_entries,
)

GROUP_PHASES = "Power/Phases"

_STATS = ("getCombinedStats", "runAll")
_SLOTS = ("getTimeslots", "getModesandTimes", "runAll")


def _grid(v: Values) -> float:
    return v["grid_export_power"] - v["grid_import_power"]


def _battery(v: Values) -> float:
    return v["battery_discharge_power"] - v["battery_charge_power"]


_FLOW_SOURCES = (
    "pv1_power",
    "pv2_power",
    "load_power",
    "grid_export_power",
    "grid_import_power",
    "battery_discharge_power",
    "battery_charge_power",
)


def _three_phase_flows(v: Values) -> dict[str, float]:
    return _flows(
        {
            "p_pv1": v["pv1_power"],
            "p_pv2": v["pv2_power"],
            "p_load_demand": v["load_power"],
            "p_grid_out": _grid(v),
            "p_battery": _battery(v),
        }
    )


def _round(value: float) -> float:
    return round(value, 1)


def three_phase_stats() -> list[Entry]:
    """getCombinedStats on a three-phase hybrid (families.md §2.2)."""
    pv = ("pv1_power", "pv2_power")
    grid = ("grid_export_power", "grid_import_power")
    battery = ("battery_discharge_power", "battery_charge_power")
    entries = [
        _power(GROUP_POWER, "PV Power String 1", pv[:1], lambda v: v["pv1_power"]),
        _power(GROUP_POWER, "PV Power String 2", pv[1:], lambda v: v["pv2_power"]),
        _power(GROUP_POWER, "PV Power", pv, lambda v: _round(v["pv1_power"] + v["pv2_power"])),
        _power(GROUP_POWER, "Grid Power", grid, lambda v: _round(_grid(v))),
        _power(GROUP_POWER, "Import Power", grid[1:], lambda v: v["grid_import_power"]),
        _power(GROUP_POWER, "Export Power", grid[:1], lambda v: v["grid_export_power"]),
        _power(GROUP_POWER, "Invertor Power", ("inverter_power",), lambda v: v["inverter_power"]),
        _power(
            GROUP_POWER, "AC Charge Power", ("ac_charge_power",), lambda v: v["ac_charge_power"]
        ),
        _power(GROUP_POWER, "Load Power", ("load_power",), lambda v: v["load_power"]),
        _power(
            GROUP_POWER,
            "Self Consumption Power",
            ("load_power", "grid_import_power"),
            lambda v: _round(max(v["load_power"] - v["grid_import_power"], 0)),
        ),
        _power(GROUP_POWER, "Battery Power", battery, lambda v: _round(_battery(v))),
        _power(GROUP_POWER, "Charge Power", battery[1:], lambda v: v["battery_charge_power"]),
        _power(GROUP_POWER, "Discharge Power", battery[:1], lambda v: v["battery_discharge_power"]),
        Entry(GROUP_POWER, "SOC", ("soc",), lambda v: v["soc"], "%", "battery", "measurement"),
    ]
    names = ("p_pv1", "p_pv2", "p_load_demand", "p_grid_out", "p_battery")
    for flow in _flows(dict.fromkeys(names, 0)):
        entries.append(
            _power(
                GROUP_FLOWS,
                flow,
                _FLOW_SOURCES,
                lambda v, flow=flow: _round(_three_phase_flows(v)[flow]),
            )
        )
    for period, group, counter in (
        ("today", GROUP_TODAY, "Today"),
        ("total", GROUP_TOTAL, "Total"),
    ):
        charged, discharged = f"e_battery_charged_{period}", f"e_battery_discharged_{period}"
        solar, export = f"e_solar_{period}", f"e_export_{period}"
        imported, ac_charge = f"e_import_{period}", f"e_ac_charge_{period}"
        entries += [
            _counter(group, f"PV Energy {counter} kWh", solar),
            _counter(group, f"Import Energy {counter} kWh", imported),
            _counter(group, f"Export Energy {counter} kWh", export),
            _counter(group, f"AC Charge Energy {counter} kWh", ac_charge),
            _counter(group, f"Invertor Energy {counter} kWh", f"e_ac_output_{period}"),
            _counter(group, f"Battery Charge Energy {counter} kWh", charged),
            _counter(group, f"Battery Discharge Energy {counter} kWh", discharged),
            # The unit's own consumption counter (installer CONSUMPTION), not v1.0's formula.
            _counter(group, f"Load Energy {counter} kWh", f"e_load_{period}"),
            _energy(
                group,
                f"Battery Throughput {counter} kWh",
                (charged, discharged),
                lambda v, c=charged, d=discharged: round(v[c] + v[d], 1),
                counter=True,
            ),
            _energy(
                group,
                f"Self Consumption Energy {counter} kWh",
                (solar, export),
                lambda v, s=solar, e=export: round(max(v[s] - v[e], 0), 2),
                counter=False,
            ),
        ]
        if period == "today":
            entries.append(
                _energy(
                    group,
                    "Import for Load Energy Today kWh",
                    (imported, ac_charge),
                    lambda v, i=imported, a=ac_charge: round(max(v[i] - v[a], 0), 1),
                    counter=False,
                )
            )
    entries.append(
        Entry(
            GROUP_DETAILS,
            "Invertor Temperature",
            ("inverter_temperature",),
            lambda v: v["inverter_temperature"],
            "°C",
            "temperature",
            "measurement",
        )
    )
    return entries + _phase_entries()


def _phase_entries() -> list[Entry]:
    """Family-only values, named in the v1.0 style: per phase, and the line voltages."""
    entries = []
    for phase in (1, 2, 3):
        for key, name in (
            ("Grid Power", "grid_power"),
            ("Load Power", "load_power"),
            ("Invertor Power", "inverter_power"),
        ):
            source = f"{name}_phase_{phase}"
            entries.append(
                _power(GROUP_PHASES, f"{key} Phase {phase}", (source,), lambda v, s=source: v[s])
            )
        for key, name, unit, device_class in (
            ("Output Voltage", "output_voltage", "V", "voltage"),
            ("Output Current", "output_current", "A", "current"),
        ):
            source = f"{name}_phase_{phase}"
            entries.append(
                Entry(
                    GROUP_PHASES,
                    f"{key} Phase {phase}",
                    (source,),
                    lambda v, s=source: v[s],
                    unit,
                    device_class,
                    "measurement",
                )
            )
    for pair in ("l1_l2", "l2_l3", "l3_l1"):
        source = f"grid_voltage_{pair}"
        label = pair.upper().replace("_", "-")
        entries.append(
            Entry(
                GROUP_PHASES,
                f"Grid Voltage {label}",
                (source,),
                lambda v, s=source: v[s],
                "V",
                "voltage",
                "measurement",
            )
        )
    return entries


GROUP_INVERTERS = "Power/Inverters"


def _slots_in(status: str | None, width: int, count: int) -> list[int]:
    """1-based slots whose status bits (``width`` per slot, slot 1 lowest) are non-zero;
    for inverters only 2 (online) counts. None (not read): no slot."""
    if status is None:
        return []
    word = int(status, 16)
    mask = (1 << width) - 1
    states = [(word >> (width * i)) & mask for i in range(count)]
    if width == 3:
        return [i + 1 for i, state in enumerate(states) if state == 2]
    return [i + 1 for i, state in enumerate(states) if state]


def ems_stats(values: Values) -> list[Entry]:
    """getCombinedStats on an EMS (families.md §2.4): the plant from the EMS's own figures
    (IR42 and the IR 0-59 counters describe no house here), per managed inverter and meter in
    Power/Inverters. No energy counters are known for it, so no Energy groups."""
    grid = ("grid_power",)
    battery = ("battery_power",)

    def house_grid(v: Values) -> int:
        return -v["grid_power"]  # the EMS counts + import

    entries = [
        _power(GROUP_POWER, "PV Power", ("generation_power",), lambda v: v["generation_power"]),
        _power(GROUP_POWER, "Grid Power", grid, house_grid),
        _power(GROUP_POWER, "Import Power", grid, lambda v: max(v["grid_power"], 0)),
        _power(GROUP_POWER, "Export Power", grid, lambda v: max(-v["grid_power"], 0)),
        _power(GROUP_POWER, "Load Power", ("load_power",), lambda v: v["load_power"]),
        _power(
            GROUP_POWER,
            "Self Consumption Power",
            ("load_power", "grid_power"),
            lambda v: max(v["load_power"] - max(v["grid_power"], 0), 0),
        ),
        _power(GROUP_POWER, "Battery Power", battery, lambda v: v["battery_power"]),
        _power(GROUP_POWER, "Charge Power", battery, lambda v: max(-v["battery_power"], 0)),
        _power(GROUP_POWER, "Discharge Power", battery, lambda v: max(v["battery_power"], 0)),
        Entry(GROUP_POWER, "SOC", ("soc",), lambda v: v["soc"], "%", "battery", "measurement"),
    ]
    sources = ("generation_power", "load_power", "grid_power", "battery_power")

    def flows(v: Values) -> dict[str, float]:
        return _flows(
            {
                "p_pv1": v["generation_power"],
                "p_pv2": 0,
                "p_load_demand": v["load_power"],
                "p_grid_out": house_grid(v),
                "p_battery": v["battery_power"],
            }
        )

    names = ("p_pv1", "p_pv2", "p_load_demand", "p_grid_out", "p_battery")
    for flow in _flows(dict.fromkeys(names, 0)):
        entries.append(_power(GROUP_FLOWS, flow, sources, lambda v, f=flow: flows(v)[f]))
    for k in _slots_in(values.get("inverter_status"), 3, 4):
        prefix = f"inverter_{k}"
        entries += [
            _power(
                GROUP_INVERTERS,
                f"Inverter {k} Power",
                (f"{prefix}_power",),
                lambda v, n=f"{prefix}_power": v[n],
            ),
            Entry(
                GROUP_INVERTERS,
                f"Inverter {k} SOC",
                (f"{prefix}_soc",),
                lambda v, n=f"{prefix}_soc": v[n],
                "%",
                "battery",
                "measurement",
            ),
            Entry(
                GROUP_INVERTERS,
                f"Inverter {k} Temperature",
                (f"{prefix}_temperature",),
                lambda v, n=f"{prefix}_temperature": v[n],
                "°C",
                "temperature",
                "measurement",
            ),
            Entry(
                GROUP_INVERTERS,
                f"Inverter {k} Serial Number",
                (f"{prefix}_serial_number",),
                lambda v, n=f"{prefix}_serial_number": v[n],
            ),
        ]
    for k in _slots_in(values.get("meter_status"), 2, 8):
        name = f"meter_{k}_power"
        # House sign, as Grid Power: + export.
        entries.append(
            _power(GROUP_INVERTERS, f"Meter {k} Power", (name,), lambda v, n=name: -v[n])
        )
    return entries


GROUP_AIOS = "Power/AIOs"


def _aio_socs(v: Values) -> list[int]:
    return [v[f"aio_{k}_soc"] for k in range(1, v["aio_count"] + 1)]


def gateway_stats(values: Values) -> list[Entry]:
    """getCombinedStats on a Gateway (families.md §2.5). Battery powers are negated to the
    house sign (+ discharging). "SOC" is the mean of the AIOs' SOCs (there is no plant SOC
    register). IR1617 ("PV" or inverter power: the sources disagree) is not published, and
    without it there are no power flows."""
    count = values.get("aio_count")
    aios = range(1, count + 1) if isinstance(count, int) else range(0)
    soc_sources = ("aio_count", *(f"aio_{k}_soc" for k in aios))
    grid = ("grid_power",)
    battery = ("aio_total_power",)
    entries = [
        _power(GROUP_POWER, "Grid Power", grid, lambda v: v["grid_power"]),
        _power(GROUP_POWER, "Import Power", grid, lambda v: max(-v["grid_power"], 0)),
        _power(GROUP_POWER, "Export Power", grid, lambda v: max(v["grid_power"], 0)),
        _power(GROUP_POWER, "Load Power", ("load_power",), lambda v: v["load_power"]),
        _power(
            GROUP_POWER,
            "Self Consumption Power",
            ("load_power", "grid_power"),
            lambda v: max(v["load_power"] - max(-v["grid_power"], 0), 0),
        ),
        _power(GROUP_POWER, "Battery Power", battery, lambda v: -v["aio_total_power"]),
        _power(GROUP_POWER, "Charge Power", battery, lambda v: max(v["aio_total_power"], 0)),
        _power(GROUP_POWER, "Discharge Power", battery, lambda v: max(-v["aio_total_power"], 0)),
    ]
    if aios:
        entries.append(
            Entry(
                GROUP_POWER,
                "SOC",
                soc_sources,
                lambda v: round(sum(_aio_socs(v)) / len(_aio_socs(v))),
                "%",
                "battery",
                "measurement",
            )
        )
    for period, group, label in (("today", GROUP_TODAY, "Today"), ("total", GROUP_TOTAL, "Total")):
        charged, discharged = f"e_battery_charge_{period}", f"e_battery_discharge_{period}"
        entries += [
            _counter(group, f"PV Energy {label} kWh", f"e_pv_{period}"),
            _counter(group, f"Import Energy {label} kWh", f"e_import_{period}"),
            _counter(group, f"Export Energy {label} kWh", f"e_export_{period}"),
            _counter(group, f"Battery Charge Energy {label} kWh", charged),
            _counter(group, f"Battery Discharge Energy {label} kWh", discharged),
            _counter(group, f"Load Energy {label} kWh", f"e_load_{period}"),
            _energy(
                group,
                f"Battery Throughput {label} kWh",
                (charged, discharged),
                lambda v, c=charged, d=discharged: round(v[c] + v[d], 1),
                counter=True,
            ),
        ]
    for k in aios:
        power, serial = f"aio_{k}_power", f"aio_{k}_serial_number"
        entries += [
            Entry(
                GROUP_AIOS,
                f"AIO {k} SOC",
                (f"aio_{k}_soc",),
                lambda v, n=f"aio_{k}_soc": v[n],
                "%",
                "battery",
                "measurement",
            ),
            _power(GROUP_AIOS, f"AIO {k} Battery Power", (power,), lambda v, n=power: -v[n]),
            Entry(GROUP_AIOS, f"AIO {k} Serial Number", (serial,), lambda v, n=serial: v[n]),
        ]
        for period, label in (("today", "Today"), ("total", "Total")):
            for kind, word in (("charge", "Charge"), ("discharge", "Discharge")):
                name = f"e_aio_{k}_{kind}_{period}"
                entries.append(_counter(GROUP_AIOS, f"AIO {k} {word} Energy {label} kWh", name))
    return entries


_FAMILY_STATS = {
    "three_phase": lambda values: three_phase_stats(),
    "ems": ems_stats,
    "gateway": gateway_stats,
}


# Single-phase keys a family's registers cannot back. All-in-One: IR44-46 count its AC output,
# not PV, so v1.0's load formula has no PV term to add and no source computes it (D returns
# None, families.md §2.1).
_NOT_PUBLISHED = {"aio": frozenset({"Load Energy Today kWh", "Load Energy Total kWh"})}


def published(entries: list[Entry], inverter: Any) -> list[Entry]:
    """``entries`` without the single-phase keys this family cannot back."""
    spec = inverter.family_spec
    dropped = _NOT_PUBLISHED.get(spec.key if spec else "", frozenset())
    return [e for e in entries if e.key not in dropped]


def entries(function: str, inverter: Any) -> list[Entry] | None:
    """The keys ``function`` publishes for this inverter's family; None: the single-phase
    contract of report.py applies."""
    spec = inverter.family_spec
    if spec is None or spec.key not in _FAMILY_STATS:
        return None
    result: list[Entry] = []
    if function in _STATS:
        result += _FAMILY_STATS[spec.key](inverter.values)
    if function in _SLOTS:
        result += timeslot_entries()
    return result
