"""The register map of a single-phase GivEnergy hybrid / AC inverter and its LV batteries, as data.

One declarative table per bank (``HOLDING_REGISTERS``, ``INPUT_REGISTERS``, ``BATTERY_REGISTERS``)
so that decoding, the plausibility bounds, the write allow-list, the simulator and the generated
``docs/registers.md`` all come from the same rows. Facts: ../shared/reference/registers.md.

Scale convention: ``scale`` is a **divisor**: ``physical = raw / scale`` (``scale=10`` is "/10").
Values with ``scale == 1`` decode to ``int``; scaled values to ``float`` rounded to the
resolution of the register, so ``decode(encode(x)) == x`` for every representable ``x``.

Run ``python -m givenergy_modbus_codec.registers > docs/registers.md`` after changing a table.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import datetime as dt
import enum
import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from .errors import CodecError
from .frames import BATTERY_ADDRESSES, INVERTER_ADDRESS  # noqa: F401  (re-exported)

BANK_SIZE = 60  # registers per read; the dongle answers larger reads with an error frame
# A power register with ``rated`` may read up to this many times the equipment's rating: short
# peaks exceed it a little; a garbled value is far beyond.
RATED_MARGIN = 1.5


class Bank(enum.Enum):
    """Which register file a row lives in."""

    HOLDING = "HR"  # function 03/06 at the inverter
    INPUT = "IR"  # function 04 at the inverter
    BATTERY = "BAT"  # function 04, IR 60-119, at a battery address 0x32..0x37


class Encoding(enum.Enum):
    """How raw uint16 values become a physical value (registers.md §1.1)."""

    U16 = "u16"
    S16 = "s16"
    U32 = "u32"  # high word at the lower address
    S32 = "s32"  # two's complement, high word at the lower address (three-phase IR1069-1070)
    DUINT8_HIGH = "duint8 high byte"
    DUINT8_LOW = "duint8 low byte"
    ASCII = "ascii"  # 5 registers, 2 chars each, high byte first, NULs stripped
    HHMM = "hhmm"  # hour * 100 + minute -> datetime.time
    DATETIME = "datetime"  # 6 registers: year - 2000, month, day, hour, minute, second
    BOOL = "bool"  # any non-zero raw reads as True (HR42 reads 2 on a real unit)
    ENUM = "enum"  # raw int; ``labels`` names the known values
    PF = "pf"  # raw / 10000 - 1
    HEX = "hex"  # 4 hex digits per register


_SINGLE = frozenset(
    {
        Encoding.U16,
        Encoding.S16,
        Encoding.DUINT8_HIGH,
        Encoding.DUINT8_LOW,
        Encoding.HHMM,
        Encoding.BOOL,
        Encoding.ENUM,
        Encoding.PF,
    }
)
_WIDTH = {Encoding.U32: 2, Encoding.S32: 2, Encoding.ASCII: 5, Encoding.DATETIME: 6}
_HEX_DIGITS = "0123456789abcdefABCDEF"
_INT_RANGE = {
    Encoding.U16: (0, 0xFFFF),
    Encoding.S16: (-0x8000, 0x7FFF),
    Encoding.U32: (0, 2**32 - 1),
    Encoding.S32: (-(2**31), 2**31 - 1),
}


class Allowed(NamedTuple):
    """The raw values a writable register accepts; ``text`` is how docs and errors show it."""

    values: frozenset[int]
    text: str

    def __contains__(self, raw: object) -> bool:
        return isinstance(raw, int) and not isinstance(raw, bool) and raw in self.values

    @classmethod
    def span(cls, low: int, high: int) -> "Allowed":
        """Every integer from low to high inclusive."""
        return cls(frozenset(range(low, high + 1)), f"{low}..{high}")

    @classmethod
    def of(cls, *values: int) -> "Allowed":
        """Exactly these values."""
        return cls(frozenset(values), ", ".join(str(v) for v in sorted(values)))


HHMM_ALLOWED = Allowed(
    frozenset(h * 100 + m for h in range(24) for m in range(60)), "hhmm 0..2359 (minute < 60)"
)
_BOOL_ALLOWED = Allowed.of(0, 1)
_PERCENT_ALLOWED = Allowed.span(4, 100)
_DATETIME_ALLOWED = (
    Allowed.span(0, 99),
    Allowed.span(1, 12),
    Allowed.span(1, 31),
    Allowed.span(0, 23),
    Allowed.span(0, 59),
    Allowed.span(0, 59),
)


def _decimals(scale: int) -> int:
    return len(str(scale)) - 1


class _RegisterFields(NamedTuple):
    name: str
    bank: Bank
    addresses: tuple[int, ...]
    encoding: Encoding
    scale: int = 1
    unit: str = ""
    sign: str = ""
    minimum: float | None = None
    maximum: float | None = None
    writable: tuple[Allowed, ...] | None = None
    description: str = ""
    rated: str = ""  # "inverter" / "battery": also within RATED_MARGIN x that rating
    labels: Mapping[int, str] | None = None  # last: __hash__ leaves it out


class Register(_RegisterFields):
    """One named value: where it lives, how it is encoded and what is plausible.

    ``minimum``/``maximum`` are plausible physical bounds (None = unbounded): values outside
    them are treated as garbage by the model. ``rated`` names the equipment whose rated power
    also bounds the value (model.py knows the ratings once HR0 is decoded). ``writable`` is
    None for registers this project never writes; otherwise the raw values accepted, one
    ``Allowed`` per address.

    Fields (and their order) are those of ``_RegisterFields``; constructing a Register checks
    that the row is consistent and raises CodecError when it is not.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> "Register":
        self = super().__new__(cls, *args, **kwargs)
        if self.encoding in _SINGLE:
            width_ok = len(self.addresses) == 1
        elif self.encoding is Encoding.HEX:
            width_ok = len(self.addresses) in (1, 2)
        else:
            width_ok = len(self.addresses) == _WIDTH[self.encoding]
        if not width_ok:
            raise CodecError(f"{self.name}: {len(self.addresses)} addresses for {self.encoding}")
        if self.scale != 1 and self.encoding not in _INT_RANGE:
            raise CodecError(f"{self.name}: only u16/s16/u32/s32 registers can be scaled")
        if self.writable is not None and len(self.writable) != len(self.addresses):
            raise CodecError(f"{self.name}: writable needs one Allowed per address")
        return self

    def __hash__(self) -> int:
        return hash(self[:-1])  # ``labels`` (a read-only dict) is not hashable

    # -- decoding -------------------------------------------------------------------------

    def raw(self, regs: Mapping[int, int]) -> tuple[int, ...] | None:
        """The raw values at this register's addresses, or None if any is missing."""
        try:
            return tuple(regs[a] for a in self.addresses)
        except KeyError:
            return None

    def decode(self, regs: Mapping[int, int]) -> Any:
        """Physical value from a register file; None if a needed address is missing.

        Raises CodecError for raw values with no meaning at all (hhmm 0160, month 13).
        """
        raw = self.raw(regs)
        return None if raw is None else self.decode_raw(raw)

    def decode_raw(self, raw: tuple[int, ...]) -> Any:
        """Physical value from the raw values of this register's addresses."""
        enc = self.encoding
        first = raw[0]
        if enc in _INT_RANGE:
            number = first
            if enc in (Encoding.U32, Encoding.S32):
                number = (first << 16) | raw[1]
                if enc is Encoding.S32 and number >= 2**31:
                    number -= 2**32
            elif enc is Encoding.S16 and first >= 0x8000:
                number = first - 0x10000
            return number if self.scale == 1 else round(number / self.scale, _decimals(self.scale))
        if enc is Encoding.DUINT8_HIGH:
            return first >> 8
        if enc is Encoding.DUINT8_LOW:
            return first & 0xFF
        if enc is Encoding.BOOL:
            return first != 0
        if enc is Encoding.ENUM:
            return first
        if enc is Encoding.PF:
            return round(first / 10000 - 1, 4)
        if enc is Encoding.HEX:
            return "".join(f"{r:04x}" for r in raw)
        if enc is Encoding.ASCII:
            text = b"".join(r.to_bytes(2, "big") for r in raw).decode("latin-1")
            return text.replace("\x00", "")
        if enc is Encoding.HHMM:
            hour, minute = divmod(first, 100)
            if hour > 23 or minute > 59:
                raise CodecError(f"{first} is not a time of day (hhmm)")
            return dt.time(hour, minute)
        # DATETIME
        try:
            return dt.datetime(2000 + first, *raw[1:])
        except ValueError as exc:
            raise CodecError(f"{list(raw)} is not a date and time ({exc})") from None

    def check(self, value: Any) -> str | None:
        """Why a decoded value is implausible, or None if it is within the bounds."""
        if self.minimum is not None and value < self.minimum:
            return f"below the plausible minimum {_fmt(self.minimum)}{_unit(self.unit)}"
        if self.maximum is not None and value > self.maximum:
            return f"above the plausible maximum {_fmt(self.maximum)}{_unit(self.unit)}"
        return None

    def label(self, value: int) -> str | None:
        """The name of an enum value (None when unknown or not an enum)."""
        return None if self.labels is None else self.labels.get(value)

    # -- encoding -------------------------------------------------------------------------

    def encode(self, value: Any, regs: Mapping[int, int] | None = None) -> dict[int, int]:
        """Raw register values for a physical value (the inverse of ``decode``).

        ``regs`` supplies the other byte of a duint8 register (else it is written as 0).
        Raises CodecError for values the register cannot hold.
        """
        enc = self.encoding
        if enc is Encoding.ASCII:
            return self._encode_ascii(value)
        if enc is Encoding.HHMM:
            if not isinstance(value, dt.time) or value.second or value.microsecond:
                raise CodecError(f"{self.name} needs a datetime.time in whole minutes")
            return {self.addresses[0]: value.hour * 100 + value.minute}
        if enc is Encoding.DATETIME:
            if not isinstance(value, dt.datetime) or not 2000 <= value.year <= 2099:
                raise CodecError(f"{self.name} needs a datetime in 2000..2099")
            parts = (value.year - 2000, value.month, value.day, value.hour, value.minute)
            return dict(zip(self.addresses, (*parts, value.second), strict=True))
        if enc is Encoding.HEX:
            digits = 4 * len(self.addresses)
            if not isinstance(value, str) or len(value) != digits or value.strip(_HEX_DIGITS):
                raise CodecError(f"{self.name} needs {digits} hex digits")
            number = int(value, 16)
            return {
                a: (number >> (16 * i)) & 0xFFFF for i, a in enumerate(reversed(self.addresses))
            }
        if enc is Encoding.BOOL:
            if value not in (0, 1):  # True/False compare equal to 1/0
                raise CodecError(f"{self.name} needs a bool")
            return {self.addresses[0]: int(value)}
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise CodecError(f"{self.name} needs a finite number, got {value!r}")
        if enc is Encoding.PF:
            return {self.addresses[0]: self._in_range(round((value + 1) * 10000), 0, 0xFFFF)}
        if enc in (Encoding.DUINT8_HIGH, Encoding.DUINT8_LOW):
            byte = self._in_range(value, 0, 0xFF)
            other = (regs or {}).get(self.addresses[0], 0)
            if enc is Encoding.DUINT8_HIGH:
                return {self.addresses[0]: (byte << 8) | (other & 0xFF)}
            return {self.addresses[0]: (other & 0xFF00) | byte}
        if enc is Encoding.ENUM:
            return {self.addresses[0]: self._in_range(value, 0, 0xFFFF)}
        low, high = _INT_RANGE[enc]
        number = self._in_range(round(value * self.scale), low, high)
        if enc in (Encoding.U32, Encoding.S32):
            number &= 0xFFFFFFFF
            return {self.addresses[0]: number >> 16, self.addresses[1]: number & 0xFFFF}
        return {self.addresses[0]: number & 0xFFFF}

    def _in_range(self, number: float, low: int, high: int) -> int:
        if number != int(number) or not low <= number <= high:
            raise CodecError(f"{self.name}: raw {number} outside {low}..{high}")
        return int(number)

    def _encode_ascii(self, value: Any) -> dict[int, int]:
        if not isinstance(value, str) or not value.isascii() or len(value) > 10 or "\x00" in value:
            raise CodecError(f"{self.name} needs an ASCII string of at most 10 characters")
        data = value.encode("ascii").ljust(10, b"\x00")
        return {
            a: int.from_bytes(data[2 * i : 2 * i + 2], "big") for i, a in enumerate(self.addresses)
        }

    # -- write allow-list -----------------------------------------------------------------

    def allowed_at(self, address: int) -> Allowed | None:
        """The raw values this project may write at one of the register's addresses."""
        if self.writable is None or address not in self.addresses:
            return None
        return self.writable[self.addresses.index(address)]


def _fmt(number: float) -> str:
    return f"{number:g}"


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


# -- table builders: keep the rows short ----------------------------------------------------


def _row(bank: Bank, name: str, addresses: int | Iterable[int], encoding: Encoding, **kw: Any):
    addrs = (addresses,) if isinstance(addresses, int) else tuple(addresses)
    writable = kw.pop("writable", None)
    if isinstance(writable, Allowed):
        writable = (writable,)
    if (bounds := kw.pop("bounds", None)) is not None:
        kw["minimum"], kw["maximum"] = bounds
    if (labels := kw.pop("labels", None)) is not None:
        kw["labels"] = MappingProxyType(dict(labels))
    return Register(name, bank, addrs, encoding, writable=writable, **kw)


def _hr(name: str, addresses: int | Iterable[int], encoding: Encoding = Encoding.U16, **kw: Any):
    return _row(Bank.HOLDING, name, addresses, encoding, **kw)


def _ir(name: str, addresses: int | Iterable[int], encoding: Encoding = Encoding.U16, **kw: Any):
    return _row(Bank.INPUT, name, addresses, encoding, **kw)


def _bat(name: str, addresses: int | Iterable[int], encoding: Encoding = Encoding.U16, **kw: Any):
    return _row(Bank.BATTERY, name, addresses, encoding, **kw)


E = Encoding
_PCT = (0, 100)


def _extended_slot_rows() -> tuple[Register, ...]:
    """HR242-299 (registers.md §5.1, families.md §3.1): slots 3-10 and every slot's target.

    Only models with the extended layout answer this bank (Gen3 ARM > 302, AIO, HV Gen3).
    """
    rows = []
    for k in range(1, 11):
        if k >= 3:
            rows += [
                _hr(f"charge_slot_{k}_start", 237 + 3 * k, E.HHMM, writable=HHMM_ALLOWED),
                _hr(f"charge_slot_{k}_end", 238 + 3 * k, E.HHMM, writable=HHMM_ALLOWED),
            ]
        rows.append(
            _hr(
                f"charge_target_soc_{k}",
                239 + 3 * k,
                unit="%",
                bounds=_PCT,
                writable=_PERCENT_ALLOWED,
                description=f"charge slot {k} target (extended layout)",
            )
        )
    for k in range(1, 11):
        if k >= 3:
            rows += [
                _hr(f"discharge_slot_{k}_start", 267 + 3 * k, E.HHMM, writable=HHMM_ALLOWED),
                _hr(f"discharge_slot_{k}_end", 268 + 3 * k, E.HHMM, writable=HHMM_ALLOWED),
            ]
        rows.append(
            _hr(
                f"discharge_target_soc_{k}",
                269 + 3 * k,
                unit="%",
                bounds=_PCT,
                writable=_PERCENT_ALLOWED,
                description=f"discharge slot {k} target (extended layout)",
            )
        )
    return tuple(sorted(rows, key=lambda r: r.addresses[0]))


_TEMP = (-60, 100)  # also rejects the -273.0 °C empty-slot sentinel
_DAY_KWH = (0, 200)  # 16-bit daily counters wrap at 6553.5; > 200 kWh/day is not a home system
_TOTAL_KWH = (0, 100000)
_PV_W = (0, 15000)
_BATTERY_W = (-10000, 10000)
_GRID_W = (-20000, 20000)
_CELL_V = (1.0, 5.0)
_PACK_V = (16.0, 80.0)
_PACK_AH = (0, 500)
_PLUS_DISCHARGE = "+ discharging / − charging"

HOLDING_REGISTERS: tuple[Register, ...] = (
    _hr("device_type_code", 0, E.HEX, description="DTC: first digit is the family (§2)"),
    _hr("module", (1, 2), E.HEX, description="HR2 high byte grid code, low byte rated W / 100"),
    _hr("num_mppt", 3, E.DUINT8_HIGH, bounds=(0, 4), description="MPPT trackers"),
    _hr("num_phases", 3, E.DUINT8_LOW, bounds=(1, 3), description="AC phases"),
    _hr("enable_ammeter", 7, E.BOOL),
    _hr("first_battery_serial_number", range(8, 13), E.ASCII, description="AIO: byte-swapped"),
    _hr("serial_number", range(13, 18), E.ASCII, description="inverter serial; never write"),
    _hr("first_battery_bms_firmware_version", 18),
    _hr("dsp_firmware_version", 19, description="firmware string D0.(HR19)-A0.(HR21)"),
    _hr(
        "enable_charge_target",
        20,
        E.BOOL,
        writable=_BOOL_ALLOWED,
        description="1: timed/AC charging stops at charge_target_soc (HR116)",
    ),
    _hr("arm_firmware_version", 21, description="hybrids: 3xx Gen3, 8xx/9xx Gen2, else Gen1"),
    _hr("usb_device_inserted", 22, E.ENUM, labels={0: "none", 1: "WiFi dongle", 2: "USB disk"}),
    _hr("select_arm_chip", 23, E.BOOL),
    _hr("variable_address", 24, description="debug peek address"),
    _hr("variable_value", 25, description="debug peek value"),
    _hr(
        "grid_port_max_power_output",
        26,
        unit="W",
        bounds=(0, 60000),
        writable=Allowed.span(0, 60000),
        description="export limit (setExportLimit)",
    ),
    _hr(
        "battery_power_mode",
        27,
        E.ENUM,
        bounds=(0, 1),
        writable=_BOOL_ALLOWED,
        labels={0: "export (discharge at max power)", 1: "self-consumption (match demand)"},
        description="'eco' mode",
    ),
    _hr("enable_60hz_freq_mode", 28, E.BOOL),
    _hr(
        "battery_calibration_stage",
        29,
        E.ENUM,
        bounds=(0, 7),
        writable=Allowed.of(0, 1),
        description="written 1 (start: the discharge stage) or 0 (stop) only",
        labels={
            0: "off",
            1: "discharge",
            2: "set lower limit",
            3: "charge",
            4: "set upper limit",
            5: "balance",
            6: "set full capacity",
            7: "finish",
        },
    ),
    _hr("modbus_address", 30, bounds=(1, 255), description="17 = 0x11"),
    _hr(
        "charge_slot_2_start",
        31,
        E.HHMM,
        writable=HHMM_ALLOWED,
        description="ignored on Gen2; writes time out on some AC units",
    ),
    _hr("charge_slot_2_end", 32, E.HHMM, writable=HHMM_ALLOWED),
    _hr("user_code", 33),
    _hr("modbus_version", 34, scale=100, description="140 -> 1.40"),
    _hr(
        "system_time",
        range(35, 41),
        E.DATETIME,
        writable=_DATETIME_ALLOWED,
        description="year - 2000, month, day, hour, minute, second; write all six",
    ),
    _hr("enable_drm_rj45_port", 41, E.BOOL),
    _hr("enable_reversed_ct_clamp", 42, E.BOOL, description="vendor range 0..3"),
    _hr("charge_soc", 43, E.DUINT8_HIGH, unit="%", bounds=_PCT),
    _hr("discharge_soc", 43, E.DUINT8_LOW, unit="%", bounds=_PCT),
    _hr("discharge_slot_2_start", 44, E.HHMM, writable=HHMM_ALLOWED),
    _hr("discharge_slot_2_end", 45, E.HHMM, writable=HHMM_ALLOWED),
    _hr("bms_firmware_version", 46),
    _hr("meter_type", 47, E.ENUM, bounds=(0, 1), labels={0: "EM418", 1: "EM115"}),
    _hr("enable_reversed_115_meter", 48, E.BOOL),
    _hr("enable_reversed_418_meter", 49, E.BOOL),
    _hr(
        "active_power_rate",
        50,
        unit="%",
        bounds=_PCT,
        writable=Allowed.span(0, 100),
        description="an EMS silently re-asserts it",
    ),
    _hr("reactive_power_rate", 51, unit="%", bounds=_PCT),
    _hr("power_factor", 52, E.PF, bounds=(-1, 1)),
    _hr("enable_inverter_auto_restart", 53, E.DUINT8_HIGH, bounds=(0, 1)),
    _hr("enable_inverter", 53, E.DUINT8_LOW, bounds=(0, 1)),
    _hr("battery_type", 54, E.ENUM, bounds=(0, 1), labels={0: "Lead Acid", 1: "Lithium"}),
    _hr(
        "battery_capacity_ah",
        55,
        unit="Ah",
        bounds=(0, 2000),
        description="nominal Wh = Ah × 51.2 V",
    ),
    _hr("discharge_slot_1_start", 56, E.HHMM, writable=HHMM_ALLOWED),
    _hr("discharge_slot_1_end", 57, E.HHMM, writable=HHMM_ALLOWED),
    _hr("enable_auto_judge_battery_type", 58, E.BOOL),
    _hr("enable_discharge", 59, E.BOOL, writable=_BOOL_ALLOWED, description="timed discharge"),
    _hr("v_pv_start", 60, scale=10, unit="V", bounds=(0, 1000)),
    _hr("start_countdown_timer", 61, unit="s"),
    _hr("restart_delay_time", 62, unit="s"),
    _hr("v_ac_low_limit_trip", 63, scale=10, unit="V", description="grid code; never write"),
    _hr("v_ac_high_limit_trip", 64, scale=10, unit="V"),
    _hr("f_ac_low_limit_trip", 65, scale=100, unit="Hz"),
    _hr("f_ac_high_limit_trip", 66, scale=100, unit="Hz"),
    _hr("t_ac_low_voltage_trip", 67, scale=100, unit="s"),
    _hr("t_ac_high_voltage_trip", 68, scale=100, unit="s"),
    _hr("t_ac_low_freq_trip", 69, scale=100, unit="s"),
    _hr("t_ac_high_freq_trip", 70, scale=100, unit="s"),
    _hr("v_ac_low_limit_reconnect", 71, scale=10, unit="V"),
    _hr("v_ac_high_limit_reconnect", 72, scale=10, unit="V"),
    _hr("f_ac_low_limit_reconnect", 73, scale=100, unit="Hz"),
    _hr("f_ac_high_limit_reconnect", 74, scale=100, unit="Hz"),
    _hr("t_ac_low_voltage_reconnect", 75, scale=100, unit="s"),
    _hr("t_ac_high_voltage_reconnect", 76, scale=100, unit="s"),
    _hr("t_ac_low_freq_reconnect", 77, scale=100, unit="s"),
    _hr("t_ac_high_freq_reconnect", 78, scale=100, unit="s"),
    _hr("v_ac_low_limit_grid", 79, scale=10, unit="V"),
    _hr("v_ac_high_limit_grid", 80, scale=10, unit="V"),
    _hr("f_ac_low_limit_grid", 81, scale=100, unit="Hz"),
    _hr("f_ac_high_limit_grid", 82, scale=100, unit="Hz"),
    _hr("v_ac_10min_protect", 83, scale=10, unit="V", description="10-minute average limit"),
    _hr("iso_protection_1", 84, description="84-93: vendor parse disagrees; do not rely"),
    _hr("iso_protection_2", 85),
    _hr("gfci_protection_value_1", 86),
    _hr("gfci_protection_time_1", 87),
    _hr("gfci_protection_value_2", 88),
    _hr("gfci_protection_time_2", 89),
    _hr("dci_protection_value_1", 90),
    _hr("dci_protection_time_1", 91),
    _hr("dci_protection_value_2", 92),
    _hr("dci_protection_time_2", 93),
    _hr("charge_slot_1_start", 94, E.HHMM, writable=HHMM_ALLOWED),
    _hr("charge_slot_1_end", 95, E.HHMM, writable=HHMM_ALLOWED),
    _hr("enable_charge", 96, E.BOOL, writable=_BOOL_ALLOWED, description="timed charge"),
    _hr("battery_low_voltage_protection_limit", 97, scale=100, unit="V", bounds=(0, 100)),
    _hr("battery_high_voltage_protection_limit", 98, scale=100, unit="V", bounds=(0, 100)),
    _hr("string_1_voltage_adjustment", 99, description="vendor: battery power limit; disputed"),
    _hr("string_2_voltage_adjustment", 100),
    _hr("grid_import_limit", 101, unit="A"),
    _hr("grid_import_limit_enabled", 102, E.BOOL),
    _hr("enable_lora", 103, E.BOOL),
    _hr("enable_battery_self_heating", 104, E.BOOL),
    _hr("battery_voltage_adjust", 105, scale=100, unit="V"),
    _hr("string_1_power_adjustment", 106),
    _hr("string_2_power_adjustment", 107),
    _hr("battery_low_force_charge_time", 108, unit="min"),
    _hr("enable_bms_read", 109, E.BOOL),
    _hr(
        "battery_soc_reserve",
        110,
        unit="%",
        bounds=_PCT,
        writable=_PERCENT_ALLOWED,
        description="discharge floor; 100 = paused in mode read-back",
    ),
    _hr(
        "battery_charge_limit",
        111,
        bounds=(0, 250),
        writable=Allowed.span(0, 50),
        description="hundredths of C: 50 = 0.5 C = full rate, 0 pauses charging",
    ),
    _hr(
        "battery_discharge_limit",
        112,
        bounds=(0, 250),
        writable=Allowed.span(0, 50),
        description="hundredths of C: 50 = full rate, 0 pauses discharging",
    ),
    _hr("enable_buzzer", 113, E.BOOL),
    _hr(
        "battery_discharge_min_power_reserve",
        114,
        unit="%",
        bounds=_PCT,
        writable=_PERCENT_ALLOWED,
        description="v1.0 'Battery Power Reserve'",
    ),
    _hr(
        "charge_target_soc",
        116,
        unit="%",
        bounds=_PCT,
        writable=_PERCENT_ALLOWED,
        description="effective only with enable_charge_target = 1",
    ),
    _hr("charge_soc_stop_2", 117, unit="%", bounds=_PCT),
    _hr("discharge_soc_stop_2", 118, unit="%", bounds=_PCT),
    _hr("charge_soc_stop_1", 119, unit="%", bounds=_PCT),
    _hr("discharge_soc_stop_1", 120, unit="%", bounds=_PCT),
    _hr(
        "inverter_reboot",
        163,
        writable=Allowed.of(100),
        description="100 reboots; other vendor values reset to factory: never sent",
    ),
    _hr("enable_rtc", 166, E.BOOL),
    *_extended_slot_rows(),
    _hr(
        "export_priority",
        311,
        E.ENUM,
        bounds=(0, 2),
        writable=Allowed.of(0, 1, 2),
        labels={0: "load first", 1: "battery first", 2: "grid first"},
        description="AC/AIO only",
    ),
    _hr(
        "battery_charge_limit_ac",
        313,
        unit="%",
        bounds=_PCT,
        writable=Allowed.span(1, 100),
        description="AC/AIO only; 0 gets an error response",
    ),
    _hr(
        "battery_discharge_limit_ac",
        314,
        unit="%",
        bounds=_PCT,
        writable=Allowed.span(1, 100),
        description="AC/AIO only; 0 gets an error response",
    ),
    _hr("enable_eps", 317, E.BOOL, writable=_BOOL_ALLOWED, description="AC/AIO only"),
    _hr(
        "battery_pause_mode",
        318,
        E.ENUM,
        bounds=(0, 3),
        writable=Allowed.of(0, 1, 2, 3),
        labels={0: "off", 1: "pause charge", 2: "pause discharge", 3: "pause both"},
        description="AC/AIO only",
    ),
    _hr("battery_pause_slot_start", 319, E.HHMM, writable=HHMM_ALLOWED, description="AC/AIO"),
    _hr("battery_pause_slot_end", 320, E.HHMM, writable=HHMM_ALLOWED, description="AC/AIO"),
)

INPUT_REGISTERS: tuple[Register, ...] = (
    _ir(
        "inverter_status",
        0,
        E.ENUM,
        bounds=(0, 4),
        labels={0: "waiting", 1: "normal", 2: "warning", 3: "fault", 4: "firmware update"},
    ),
    _ir("v_pv1", 1, scale=10, unit="V", bounds=(0, 1000), description="AIO: AC-side echo"),
    _ir("v_pv2", 2, scale=10, unit="V", bounds=(0, 1000)),
    _ir("v_p_bus", 3, scale=10, unit="V", bounds=(0, 1000)),
    _ir("v_n_bus", 4, scale=10, unit="V", bounds=(0, 1000)),
    _ir("v_ac1", 5, scale=10, unit="V", bounds=(0, 300), description="grid voltage"),
    _ir("e_battery_throughput_total", (6, 7), E.U32, scale=10, unit="kWh", bounds=_TOTAL_KWH),
    _ir("i_pv1", 8, scale=10, unit="A", bounds=(0, 30)),
    _ir("i_pv2", 9, scale=10, unit="A", bounds=(0, 30)),
    _ir("i_ac1", 10, scale=10, unit="A", bounds=(0, 100), description="grid current"),
    _ir("e_pv_total", (11, 12), E.U32, scale=10, unit="kWh", bounds=_TOTAL_KWH),
    _ir("f_ac1", 13, scale=100, unit="Hz", bounds=(0, 70), description="grid frequency"),
    _ir(
        "charge_status",
        14,
        E.ENUM,
        bounds=(0, 5),
        labels={0: "idle", 2: "charging", 3: "finishing", 5: "discharging"},
    ),
    _ir("v_highbrigh_bus", 15, scale=10, unit="V", bounds=(0, 1000)),
    _ir("pf_inverter_output", 16, E.PF, bounds=(-1, 1)),
    _ir("e_pv1_day", 17, scale=10, unit="kWh", bounds=_DAY_KWH),
    _ir("p_pv1", 18, unit="W", bounds=_PV_W),
    _ir("e_pv2_day", 19, scale=10, unit="kWh", bounds=_DAY_KWH),
    _ir("p_pv2", 20, unit="W", bounds=_PV_W),
    _ir("e_grid_out_total", (21, 22), E.U32, scale=10, unit="kWh", bounds=_TOTAL_KWH),
    _ir(
        "p_inverter_out",
        24,
        E.S16,
        unit="W",
        sign="+ delivering to AC / − drawing from AC",
        bounds=(-10000, 10000),
        rated="inverter",
        description="inverter AC-terminal power",
    ),
    _ir("e_grid_out_day", 25, scale=10, unit="kWh", bounds=_DAY_KWH, description="export today"),
    _ir("e_grid_in_day", 26, scale=10, unit="kWh", bounds=_DAY_KWH, description="import today"),
    _ir(
        "e_inverter_in_total",
        (27, 28),
        E.U32,
        scale=10,
        unit="kWh",
        bounds=_TOTAL_KWH,
        description="AC charge total",
    ),
    _ir("p_grid_out", 30, E.S16, unit="W", sign="+ export / − import", bounds=_GRID_W),
    _ir("p_eps_backup", 31, unit="W", bounds=(0, 10000), rated="inverter"),
    _ir("e_grid_in_total", (32, 33), E.U32, scale=10, unit="kWh", bounds=_TOTAL_KWH),
    _ir("e_ac_charge_day", 35, scale=10, unit="kWh", bounds=_DAY_KWH),
    _ir("e_battery_charge_day", 36, scale=10, unit="kWh", bounds=_DAY_KWH),
    _ir("e_battery_discharge_day", 37, scale=10, unit="kWh", bounds=_DAY_KWH),
    _ir("inverter_countdown", 38, unit="s", description="start-up countdown"),
    _ir("fault_code", 39, E.HEX),
    _ir("warning_code", 40, E.HEX),
    _ir("temp_inverter_heatsink", 41, E.S16, scale=10, unit="°C", bounds=_TEMP),
    _ir("p_load_demand", 42, unit="W", bounds=(0, 25000), description="house load, incl. EPS"),
    _ir("p_grid_apparent", 43, unit="VA", bounds=(0, 25000)),
    _ir(
        "e_inverter_out_day",
        44,
        scale=10,
        unit="kWh",
        bounds=_DAY_KWH,
        description="hybrid: PV generation; AC/AIO: AC output",
    ),
    _ir("e_inverter_out_total", (45, 46), E.U32, scale=10, unit="kWh", bounds=_TOTAL_KWH),
    _ir("work_time_total", (47, 48), E.U32, unit="h", bounds=(0, 500000)),
    _ir("system_mode", 49),
    _ir("v_battery", 50, scale=100, unit="V", bounds=(0, 70)),
    _ir("i_battery", 51, E.S16, scale=100, unit="A", sign=_PLUS_DISCHARGE, bounds=(-200, 200)),
    _ir("p_battery", 52, E.S16, unit="W", sign=_PLUS_DISCHARGE, bounds=_BATTERY_W, rated="battery"),
    _ir("v_eps_backup", 53, scale=10, unit="V", bounds=(0, 300)),
    _ir("f_eps_backup", 54, scale=100, unit="Hz", bounds=(0, 70)),
    _ir("temp_charger", 55, E.S16, scale=10, unit="°C", bounds=_TEMP),
    _ir("temp_battery", 56, E.S16, scale=10, unit="°C", bounds=_TEMP),
    _ir("charger_warning_code", 57, description="charger / battery fault bits"),
    _ir("i_grid_port", 58, E.S16, scale=100, unit="A", bounds=(-100, 100)),
    _ir("battery_percent", 59, unit="%", bounds=_PCT, description="inverter SOC"),
    _ir(
        "e_battery_discharge_total_gen1",
        180,
        scale=10,
        unit="kWh",
        description="Gen1 (ARM >= 449); 16-bit, wraps at 6553.5",
    ),
    _ir("e_battery_charge_total_gen1", 181, scale=10, unit="kWh", description="as IR180"),
    _ir("e_battery_discharge_day_gen1", 182, scale=10, unit="kWh", bounds=_DAY_KWH),
    _ir("e_battery_charge_day_gen1", 183, scale=10, unit="kWh", bounds=_DAY_KWH),
    _ir(
        "e_battery_charge_total_2",
        (194, 195),
        E.U32,
        scale=10,
        unit="kWh",
        bounds=_TOTAL_KWH,
        description="vendor v4.1.5+; 0 on Gen1",
    ),
    _ir("e_battery_discharge_total_2", (196, 197), E.U32, scale=10, unit="kWh", bounds=_TOTAL_KWH),
)

BATTERY_REGISTERS: tuple[Register, ...] = (
    *(_bat(f"v_cell_{i:02d}", 59 + i, scale=1000, unit="V", bounds=_CELL_V) for i in range(1, 17)),
    *(
        _bat(
            f"t_cells_{4 * i + 1:02d}_{4 * i + 4:02d}",
            76 + i,
            E.S16,
            scale=10,
            unit="°C",
            bounds=_TEMP,
        )
        for i in range(4)
    ),
    _bat("v_cells_sum", 80, scale=1000, unit="V", bounds=_PACK_V),
    _bat("t_bms_mosfet", 81, E.S16, scale=10, unit="°C", bounds=_TEMP),
    _bat("v_out", (82, 83), E.U32, scale=1000, unit="V", bounds=_PACK_V),
    _bat("cap_calibrated", (84, 85), E.U32, scale=100, unit="Ah", bounds=_PACK_AH),
    _bat("cap_design", (86, 87), E.U32, scale=100, unit="Ah", bounds=_PACK_AH),
    _bat("cap_remaining", (88, 89), E.U32, scale=100, unit="Ah", bounds=_PACK_AH),
    *(
        _bat(f"status_{i + 1}", 90 + i // 2, E.DUINT8_LOW if i % 2 else E.DUINT8_HIGH)
        for i in range(7)
    ),
    _bat("warning_1", 94, E.DUINT8_HIGH),
    _bat("warning_2", 94, E.DUINT8_LOW),
    _bat("i_battery", 95, E.S16, scale=100, unit="A", sign=_PLUS_DISCHARGE, bounds=(-200, 200)),
    _bat("num_cycles", 96, bounds=(0, 20000)),
    _bat("num_cells", 97, bounds=(1, 32)),
    _bat("bms_firmware_version", 98),
    _bat("soc", 100, unit="%", bounds=_PCT, description="pack SOC; may differ from IR59"),
    _bat("cap_design2", (101, 102), E.U32, scale=100, unit="Ah", bounds=_PACK_AH),
    _bat("t_max", 103, E.S16, scale=10, unit="°C", bounds=_TEMP),
    _bat("t_min", 104, E.S16, scale=10, unit="°C", bounds=_TEMP),
    _bat("e_battery_discharge_total", 105, scale=10, unit="kWh", description="16-bit, wraps"),
    _bat("e_battery_charge_total", 106, scale=10, unit="kWh", description="16-bit, wraps"),
    _bat("force_discharge_flag", 107),
    _bat("serial_number", range(110, 115), E.ASCII, description="valid: [A-Z]{2}\\d{4}[A-Z]\\d{3}"),
    _bat("usb_device_inserted", 115, description="0, 8, 11 seen"),
)

TABLES: Mapping[Bank, tuple[Register, ...]] = MappingProxyType(
    {Bank.HOLDING: HOLDING_REGISTERS, Bank.INPUT: INPUT_REGISTERS, Bank.BATTERY: BATTERY_REGISTERS}
)
_BY_NAME = {bank: {r.name: r for r in table} for bank, table in TABLES.items()}

_BANK_BASES = {
    Bank.HOLDING: (0, 60, 120, 180, 240, 300),
    Bank.INPUT: (0, 60, 120, 180),
    Bank.BATTERY: (60,),
}


def by_name(bank: Bank, name: str) -> Register:
    """The register called ``name`` in ``bank``; KeyError names the bank when unknown."""
    try:
        return _BY_NAME[bank][name]
    except KeyError:
        raise KeyError(f"no {bank.value} register named {name!r}") from None


def bank_bases(bank: Bank) -> tuple[int, ...]:
    """The 60-aligned read bases that exist for a bank (which ones a model answers varies)."""
    return _BANK_BASES[bank]


def bank_base(address: int) -> int:
    """The base of the 60-register read that contains ``address``."""
    return address - address % BANK_SIZE


WRITE_ALLOWLIST: Mapping[int, Register] = MappingProxyType(
    {a: r for r in HOLDING_REGISTERS if r.writable is not None for a in r.addresses}
)


def is_writable(address: int, value: int) -> bool:
    """True if this project may write raw ``value`` to holding register ``address``."""
    register = WRITE_ALLOWLIST.get(address)
    allowed = register.allowed_at(address) if register is not None else None
    return allowed is not None and value in allowed


# -- documentation --------------------------------------------------------------------------

_TITLES = {
    Bank.HOLDING: "Holding registers (function 03, write 06) at 0x11",
    Bank.INPUT: "Input registers (function 04) at 0x11",
    Bank.BATTERY: "Battery input registers IR 60–119 at 0x32..0x37",
}


def _addresses_text(addresses: tuple[int, ...]) -> str:
    if len(addresses) == 1:
        return str(addresses[0])
    return f"{addresses[0]}–{addresses[-1]}"


def _bounds_text(reg: Register) -> str:
    if reg.minimum is None and reg.maximum is None:
        return ""
    low = "" if reg.minimum is None else _fmt(reg.minimum)
    high = "" if reg.maximum is None else _fmt(reg.maximum)
    rated = f", within {_fmt(RATED_MARGIN)} x the {reg.rated} rating" if reg.rated else ""
    return f"{low}..{high}{rated}"


def _writable_text(reg: Register) -> str:
    if reg.writable is None:
        return ""
    if len(reg.writable) == 1:
        return reg.writable[0].text
    return "; ".join(a.text for a in reg.writable)


def _description_text(reg: Register) -> str:
    parts = [reg.description] if reg.description else []
    if reg.labels:
        parts.append(", ".join(f"{k} = {v}" for k, v in reg.labels.items()))
    return "; ".join(parts).replace("|", "\\|")


def render_markdown() -> str:
    """All tables as Markdown, then one section per model family (docs/registers.md is this
    output, checked by a test)."""
    lines = [
        "# Register map",
        "",
        "Generated from `givenergy_modbus_codec/registers.py` by `render_markdown()`: do not edit;",
        "run `python -m givenergy_modbus_codec.registers > docs/registers.md` instead.",
        "",
        "Physical value = raw / scale (after sign handling). *Plausible* bounds are in physical",
        "units; decoded values outside them are reported as invalid and never published.",
        "*Writable* lists the raw values on this project's write allow-list (empty: never",
        "written).",
    ]
    for bank, table in TABLES.items():
        lines += ["", f"## {_TITLES[bank]}", "", *table_lines(table)]
    # Imported here: the family maps are built from the tables above.
    from .families.docs import family_sections

    lines += family_sections()
    return "\n".join(lines) + "\n"


def table_lines(table: Iterable[Register]) -> list[str]:
    """One Markdown table of register rows (docs/registers.md)."""
    header = "| register | name | encoding | scale | unit | sign | plausible | writable | notes |"
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for reg in table:
        cells = (
            _addresses_text(reg.addresses),
            f"`{reg.name}`",
            reg.encoding.value,
            f"/{reg.scale}" if reg.scale != 1 else "",
            reg.unit,
            reg.sign,
            _bounds_text(reg),
            _writable_text(reg),
            _description_text(reg),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    print(render_markdown(), end="")
