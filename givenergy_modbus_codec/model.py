"""Decoded, typed views of an inverter and a battery: pure functions of raw register values.

Every register the tables can decode goes into ``values`` (physical units) unless it fails its
plausibility bounds; then it goes into ``invalid`` with the raw value in the reason, so nothing
implausible is published by accident (dongles return garbage pages, protocol.md §9). Derived
attributes (family, generation, rated power, slots, ...) follow registers.md §2-3.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from . import families, manifest
from .errors import CodecError
from .families import three_phase
from .registers import BATTERY_REGISTERS, RATED_MARGIN, Register

NOMINAL_BATTERY_VOLTAGE = 51.2  # 16 LFP cells × 3.2 V; GivTCP uses it for every model
SERIAL_PATTERN = re.compile(r"[A-Z]{2}\d{4}[A-Z]\d{3}")
# Inverters as above; an EMS is "EMS" + 7 digits (families.md §2.4, pitfall 11).
INVERTER_SERIAL_PATTERN = re.compile(r"[A-Z]{2}\d{4}[A-Z]\d{3}|[A-Z]{3}\d{7}")
TEMPERATURE_SENTINEL = 0xF556  # -273.0 °C: an empty battery slot (BMS bias of 2730 minus 2730)

_CERTIFICATIONS = {8: "G98", 12: "G99", 16: "G98NI", 17: "G99NI"}
_BATTERY_MAX_POWER_W = {"Gen1": 2600, "Gen2": 3600, "Gen3": 3600}
SLOT_NAMES = ("charge_slot_1", "charge_slot_2", "discharge_slot_1", "discharge_slot_2")


def _raw_text(raw: tuple[int, ...]) -> str:
    return str(raw[0]) if len(raw) == 1 else str(list(raw))


def _decode_table(
    table: Iterable[Register], regs: Mapping[int, int]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Split a table's decodable registers into plausible values and reasons for the rest."""
    values: dict[str, Any] = {}
    invalid: dict[str, str] = {}
    for register in table:
        raw = register.raw(regs)
        if raw is None:
            continue
        try:
            value = register.decode_raw(raw)
        except CodecError as exc:
            invalid[register.name] = f"raw {_raw_text(raw)}: {exc}"
            continue
        reason = register.check(value)
        if reason is None:
            values[register.name] = value
        else:
            unit = f" {register.unit}" if register.unit else ""
            invalid[register.name] = f"raw {_raw_text(raw)} = {value}{unit}: {reason}"
    return values, invalid


class Capabilities(NamedTuple):
    """Which controls a model has (families.md §3): what the planners refuse elsewhere.

    ``charge_slots``/``discharge_slots`` is 2 on the 2-slot layout and 10 on the extended
    layout (HR242-299), which also carries a target per slot. ``ac_bank`` is HR300-359
    (AC and AIO): EPS, export priority, battery pause mode and pause slot.
    """

    model: str
    charge_slots: int = 2
    discharge_slots: int = 2
    slot_targets: bool = False
    ac_bank: bool = False
    export_limit: bool = True
    charge_slot_2: bool = True  # Gen2 firmware ignores HR31/32 (dewet22/givenergy-modbus #413)


class InverterContext(NamedTuple):
    """What the planners need to know about the installed system (from HR55 and HR0/21).

    Defined here, beside the model it comes from, so that reading never imports the control
    planners (commands.py re-exports it). ``capabilities`` is None when only the battery is
    known (rate functions); the slot, pause and plant functions need it.
    """

    battery_capacity_wh: float
    battery_max_power_w: int
    capabilities: Capabilities | None = None


class Inverter(NamedTuple):
    """Decoded inverter registers plus what can be derived from them."""

    values: dict[str, Any]
    invalid: dict[str, str]

    @property
    def serial(self) -> str | None:
        return self.values.get("serial_number")

    @property
    def device_type_code(self) -> str | None:
        return self.values.get("device_type_code")

    @property
    def family_spec(self) -> manifest.Family | None:
        """What the manifest knows about this model (None: a code nobody knows)."""
        return manifest.resolve(self.device_type_code)

    @property
    def family(self) -> str | None:
        """Model family name from the DTC (families.md §1.1); None when unknown."""
        spec = self.family_spec
        return None if spec is None else spec.name

    @property
    def generation(self) -> str | None:
        """Gen1/Gen2/Gen3 for single-phase hybrids, from the ARM firmware (HR21) century."""
        arm = self.values.get("arm_firmware_version")
        if self.family != "Hybrid" or arm is None:
            return None
        century = arm // 100
        if century == 3:
            return "Gen3"
        return "Gen2" if century in (8, 9) else "Gen1"

    @property
    def _module_low_word(self) -> int | None:
        module = self.values.get("module")
        return None if module is None else int(module, 16) & 0xFFFF

    @property
    def rated_power_w(self) -> int | None:
        """Rated AC power: by DTC where known, else (three-phase) HR1012's first hex digit,
        else HR2's low byte × 100 (as GivTCP)."""
        spec = self.family_spec
        if spec is not None and (power := spec.rated_power(self.device_type_code or "")):
            return power
        if (code := self.values.get("power_rating_code")) is not None:  # three-phase HR1012
            return three_phase.RATINGS_W[int(code[0], 16)]
        word = self._module_low_word
        return None if word is None or not word & 0xFF else (word & 0xFF) * 100

    @property
    def grid_certification(self) -> str | None:
        """Grid code from HR2's high byte (G98, G99, G98NI, G99NI); None when unknown."""
        word = self._module_low_word
        return None if word is None else _CERTIFICATIONS.get(word >> 8)

    @property
    def battery_max_power_w(self) -> int | None:
        """Battery charge/discharge power limit GivTCP assumes for this model."""
        generation = self.generation
        if generation is not None:
            return _BATTERY_MAX_POWER_W[generation]
        spec = self.family_spec
        return None if spec is None else spec.battery_max_power_w

    @property
    def _battery_voltage(self) -> float:
        """V per HR55 Ah: 51.2 for LV packs, the family's HV string voltage otherwise
        (families.md §2.8: an AIO's HR55 is the Ah of a 96-cell string)."""
        spec = self.family_spec
        voltage = None if spec is None else spec.battery_voltage
        return NOMINAL_BATTERY_VOLTAGE if voltage is None else voltage

    @property
    def battery_capacity_wh(self) -> float | None:
        """Nominal capacity: HR55 Ah × the family's battery voltage (51.2 V for LV packs)."""
        ah = self.values.get("battery_capacity_ah")
        return None if ah is None else round(ah * self._battery_voltage, 1)

    @property
    def battery_capacity_kwh(self) -> float | None:
        """GivTCP v1.0's "Battery Capacity kWh": round(HR55 × voltage / 1000, 2)."""
        ah = self.values.get("battery_capacity_ah")
        return None if ah is None else round(ah * self._battery_voltage / 1000, 2)

    @property
    def firmware(self) -> str | None:
        dsp = self.values.get("dsp_firmware_version")
        arm = self.values.get("arm_firmware_version")
        return None if dsp is None or arm is None else f"D0.{dsp}-A0.{arm}"

    @property
    def system_time(self) -> dt.datetime | None:
        return self.values.get("system_time")

    @property
    def slots(self) -> dict[str, tuple[dt.time, dt.time] | None]:
        """Each timed slot as (start, end); None when unset (00:00/00:00), missing or invalid."""
        result: dict[str, tuple[dt.time, dt.time] | None] = {}
        for name in SLOT_NAMES:
            start = self.values.get(f"{name}_start")
            end = self.values.get(f"{name}_end")
            unset = start == end == dt.time(0, 0)
            result[name] = None if start is None or end is None or unset else (start, end)
        return result

    @property
    def legacy_type(self) -> str | None:
        """GivTCP v1.0's "Invertor Type" (serial prefix CE -> AC, ED -> Gen 2, else Hybrid).

        Kept for the v1.0 output key only; behaviour is chosen from ``family``/``generation``.
        """
        serial = self.serial
        spec = self.family_spec
        if serial is None or (spec is not None and spec.controls != manifest.CONTROLS_SINGLE_PHASE):
            return None  # v1.0 knew only single-phase models: "Hybrid" would be wrong here
        return {"CE": "AC", "ED": "Gen 2"}.get(serial[:2], "Hybrid")

    @property
    def extended_slots(self) -> bool:
        """The 10-slot layout with per-slot targets (HR242-299): AIO, HV Gen3, Gen4 and Gen3
        with ARM firmware above 302 (registers.md §2; older Gen3 firmware breaks on them)."""
        if self.family in ("All-in-One", "HV hybrid"):
            return True
        arm = self.values.get("arm_firmware_version")
        return self.generation == "Gen3" and arm is not None and arm > 302

    @property
    def model_name(self) -> str:
        """How messages name the model: "Gen1 hybrid", "AC", "All-in-One", ..."""
        if self.generation is not None:
            return f"{self.generation} hybrid (ARM {self.values['arm_firmware_version']})"
        return self.family or f"unknown model (DTC {self.device_type_code})"

    def capabilities(self) -> Capabilities:
        """The controls this model has; single-phase layout for the families read today."""
        slots = 10 if self.extended_slots else 2
        return Capabilities(
            model=self.model_name,
            charge_slots=slots,
            discharge_slots=slots,
            slot_targets=self.extended_slots,
            ac_bank=self.family in ("AC", "All-in-One"),
            charge_slot_2=self.generation != "Gen2",
        )

    def control_context(self) -> InverterContext:
        """What every planner may need; battery fields are 0 when unknown (rates refuse)."""
        return InverterContext(
            battery_capacity_wh=self.battery_capacity_wh or 0.0,
            battery_max_power_w=self.battery_max_power_w or 0,
            capabilities=self.capabilities(),
        )

    def context(self) -> InverterContext | None:
        """What the rate commands need, or None when the battery size or model is unknown."""
        capacity, power = self.battery_capacity_wh, self.battery_max_power_w
        if not capacity or not power:
            return None
        return InverterContext(battery_capacity_wh=capacity, battery_max_power_w=power)


class Battery(NamedTuple):
    """Decoded battery page (IR 60-119 at 0x32..0x37) plus the raw page for validity checks."""

    values: dict[str, Any]
    invalid: dict[str, str]
    registers: dict[int, int]

    @property
    def serial(self) -> str | None:
        return self.values.get("serial_number")

    @property
    def soc(self) -> int | None:
        return self.values.get("soc")

    @property
    def cell_voltages(self) -> tuple[float | None, ...]:
        """Cells 1..16 in V; None where missing or implausible."""
        return tuple(self.values.get(f"v_cell_{i:02d}") for i in range(1, 17))

    @property
    def temperatures(self) -> dict[str, float | None]:
        """The pack's temperature sensors in °C; None where missing or implausible."""
        names = ("t_cells_01_04", "t_cells_05_08", "t_cells_09_12", "t_cells_13_16")
        return {name: self.values.get(name) for name in (*names, "t_bms_mosfet", "t_max", "t_min")}

    @property
    def cap_design_ah(self) -> float | None:
        return self.values.get("cap_design")

    @property
    def cap_calibrated_ah(self) -> float | None:
        return self.values.get("cap_calibrated")

    @property
    def cap_remaining_ah(self) -> float | None:
        return self.values.get("cap_remaining")

    @property
    def remaining_energy_nominal_wh(self) -> int | None:
        """Remaining capacity × the nominal 51.2 V."""
        remaining = self.cap_remaining_ah
        return None if remaining is None else round(remaining * NOMINAL_BATTERY_VOLTAGE)

    @property
    def cycles(self) -> int | None:
        return self.values.get("num_cycles")

    def is_valid_page(self) -> tuple[bool, str]:
        """Whether this page came from a real battery; the reason when it did not.

        Empty slots and BMS glitches yield all-zero pages, -273.0 °C sentinels, bad serials or
        impossible cell voltages (protocol.md §9); such pages must not be published.
        """
        missing = [a for a in range(60, 120) if a not in self.registers]
        if missing:
            return False, f"incomplete page: IR{missing[0]} and {len(missing) - 1} more missing"
        if not any(self.registers[a] for a in range(60, 120)):
            return False, "all-zero page (empty slot or BMS glitch)"
        serial = self.serial or ""
        if not SERIAL_PATTERN.fullmatch(serial):
            return False, f"serial {serial!r} does not match [A-Z]{{2}}\\d{{4}}[A-Z]\\d{{3}}"
        for address in (*range(76, 80), 81, 103, 104):
            if self.registers[address] == TEMPERATURE_SENTINEL:
                return False, f"IR{address} holds the -273.0 °C empty-slot sentinel"
        cells = self.registers[97] if 1 <= self.registers[97] <= 16 else 16
        for address in range(60, 60 + cells):
            millivolts = self.registers[address]
            if not 1000 <= millivolts <= 5000:
                return False, f"cell {address - 59} reads {millivolts / 1000} V (outside 1-5 V)"
        return True, ""


def decode_inverter(holding: Mapping[int, int], input: Mapping[int, int]) -> Inverter:
    """Decode whatever holding and input registers were read (missing banks are skipped),
    with the map of the family HR0 names (families/); a refused family: identity only."""
    tables = families.tables(_family_key(holding))
    values, invalid = _decode_table(tables.holding, holding)
    input_values, input_invalid = _decode_table(tables.input, input)
    values.update(input_values)
    invalid.update(input_invalid)
    inverter = Inverter(values=values, invalid=invalid)
    _check_ratings(inverter, tables.input)
    return inverter


def _family_key(holding: Mapping[int, int]) -> str | None:
    """The family key HR0 names; None without HR0, "" for a code nobody knows."""
    if 0 not in holding:
        return None
    family = manifest.resolve(f"{holding[0]:04x}")
    return "" if family is None else family.key


def _check_ratings(inverter: Inverter, table: Iterable[Register]) -> None:
    """Reject powers beyond RATED_MARGIN x this model's rating: the table's bounds fit every
    model, so a 9 kW reading from a 3.6 kW inverter passes them but not this."""
    ratings = {"inverter": inverter.rated_power_w, "battery": inverter.battery_max_power_w}
    for register in table:
        if not register.rated:
            continue
        value = inverter.values.get(register.name)
        rating = ratings[register.rated]
        if value is None or not rating or abs(value) <= rating * RATED_MARGIN:
            continue
        del inverter.values[register.name]
        inverter.invalid[register.name] = (
            f"{value} {register.unit} is beyond {RATED_MARGIN:g} x the {rating} W rating of "
            f"this {register.rated}"
        )


def decode_battery(registers: Mapping[int, int]) -> Battery:
    """Decode one battery page (IR 60-119 as read from 0x32..0x37)."""
    values, invalid = _decode_table(BATTERY_REGISTERS, registers)
    page = {a: registers[a] for a in range(60, 120) if a in registers}
    return Battery(values=values, invalid=invalid, registers=page)
