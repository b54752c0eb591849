"""The plant behind the registers: PV, house load, battery and grid, integrated over time.

Why a model and not a frozen dump: clients must be tested against values that move the way a
real system's do (lifetime counters only grow, daily counters reset at local midnight, the
battery follows the holding-register settings). Everything is a pure function of the seed,
the plant clock and the holding registers, so a run with ``speed=0`` and ``advance()`` repeats
exactly. Register values are produced through ``givenergy_modbus_codec.registers`` (the
project's single register table); this module only knows physical quantities.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import registers
from ..registers import Bank
from .models import AC_BANK_DEFAULTS, HOLDING_TEMPLATE, ModelSpec

NOMINAL_VOLTAGE = 51.2  # 16 LFP cells × 3.2 V: HR55 Ah × 51.2 V = capacity in Wh
STEP_SECONDS = 60.0  # longest integration step; steps also stop at midnight
_EPOCH = dt.datetime(2000, 1, 1)
_PACK_AH = 160  # one Giv-Bat 8.2
_HOLDING_SIZE = 360
REBOOT_SECONDS = 90  # the inverter converts nothing while it restarts

TODAY_COUNTERS = (
    "pv1",
    "pv2",
    "grid_import",
    "grid_export",
    "inverter_out",
    "ac_charge",
    "battery_charge",
    "battery_discharge",
)


# --------------------------------------------------------------------------------------------
# Deterministic "weather": smooth noise that depends only on seed, channel and time.


@functools.lru_cache(maxsize=8192)
def _bucket(seed: int, channel: str, index: int) -> float:
    return random.Random(f"{seed}/{channel}/{index}").random()


def _smooth(seed: int, channel: str, when: dt.datetime, period: float) -> float:
    """A value in [0, 1) drifting linearly between seeded points ``period`` seconds apart."""
    x = (when - _EPOCH).total_seconds() / period
    index = math.floor(x)
    low, high = _bucket(seed, channel, index), _bucket(seed, channel, index + 1)
    return low + (high - low) * (x - index)


def _minutes(hhmm: int) -> int:
    return (hhmm // 100) * 60 + hhmm % 100


def in_slot(when: dt.datetime, start: int, end: int) -> bool:
    """True inside the hhmm slot [start, end); slots may wrap midnight, start == end is unset."""
    now, lo, hi = when.hour * 60 + when.minute, _minutes(start), _minutes(end)
    if lo == hi:
        return False
    return lo <= now < hi if lo < hi else (now >= lo or now < hi)


def encode_named(bank: Bank, values: Mapping[str, Any]) -> dict[int, int]:
    """Raw registers for name -> physical value, via the project's register table."""
    raw: dict[int, int] = {}
    for name, value in values.items():
        raw.update(registers.by_name(bank, name).encode(value, raw))
    return raw


def _wrap16(kwh: float) -> float:
    """A 0.1 kWh counter as the 16-bit register holds it (wraps at 6553.6 kWh)."""
    return (math.floor(kwh * 10 + 1e-9) % 65536) / 10


# --------------------------------------------------------------------------------------------


class SimClock:
    """Plant time: a start time, plus wall time × ``speed``, plus explicit advances.

    ``speed`` 0 freezes the clock (tests then move it with ``advance``). Thread-safe.
    """

    def __init__(self, start: dt.datetime, speed: float) -> None:
        self._lock = threading.Lock()
        self._base = start
        self._wall0 = time.monotonic()
        self._speed = speed

    def now(self) -> dt.datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._wall0) * self._speed
            return self._base + dt.timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._base += dt.timedelta(seconds=seconds)

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._base = when
            self._wall0 = time.monotonic()


@dataclass(frozen=True)
class Flows:
    """Instantaneous powers in W. Battery + = discharging; grid + = exporting."""

    pv1_w: int
    pv2_w: int
    load_w: int
    battery_w: int
    grid_w: int
    inverter_w: int  # + delivering to the AC side, − drawing from it (AC charging)
    mode: str  # what the battery logic is doing, for humans and tests

    @property
    def pv_w(self) -> int:
        return self.pv1_w + self.pv2_w


@dataclass
class Pack:
    """One LV battery: identity and its own share of the energy counters."""

    serial: str
    design_ah: float
    calibrated_ah: float
    charge_wh: float
    discharge_wh: float
    cell_offsets_mv: tuple[int, ...]
    temp_offsets: tuple[float, ...]


def _serial(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.randint(2000, 2399)}G{rng.randint(0, 999):03d}"


class Plant:
    """State and physics of one inverter + batteries; not thread-safe (Device locks it)."""

    def __init__(self, model: ModelSpec, batteries: int, seed: int, start: dt.datetime) -> None:
        self.model = model
        self.batteries = batteries
        self.seed = seed
        rng = random.Random(seed)
        self.dongle_serial = _serial(rng, "WF")
        self.inverter_serial = _serial(rng, model.serial_prefix)
        self.packs = [
            Pack(
                serial=_serial(rng, "BG"),
                design_ah=_PACK_AH,
                calibrated_ah=round(_PACK_AH * rng.uniform(1.0, 1.2), 2),
                charge_wh=rng.uniform(1500e3, 2500e3),
                discharge_wh=rng.uniform(1400e3, 2300e3),
                cell_offsets_mv=tuple(rng.randint(-4, 4) for _ in range(16)),
                temp_offsets=tuple(rng.uniform(-1.2, 1.2) for _ in range(4)),
            )
            for _ in range(batteries)
        ]
        self.totals: dict[str, float] = {
            "pv": rng.uniform(4000e3, 9000e3),
            "grid_import": rng.uniform(3000e3, 6000e3),
            "grid_export": rng.uniform(1000e3, 3000e3),
            "inverter_in": rng.uniform(500e3, 1500e3),
            "battery_charge": sum(p.charge_wh for p in self.packs),
            "battery_discharge": sum(p.discharge_wh for p in self.packs),
        }
        self.totals["inverter_out"] = self.totals["pv"] * 0.9 + self.totals["battery_discharge"]
        self.today = dict.fromkeys(TODAY_COUNTERS, 0.0)
        self.work_seconds = rng.uniform(8000, 16000) * 3600
        self.soc = rng.uniform(0.3, 0.6) if batteries else 0.0
        self.holding = self._initial_holding()
        self.reboot_until: dt.datetime | None = None
        # Start at midnight and run the day up to ``start``: today's counters are then consistent.
        self.time = dt.datetime.combine(start.date(), dt.time())
        self.flows: Flows
        self.sync(start)

    # -- configuration -------------------------------------------------------------------

    def _initial_holding(self) -> dict[int, int]:
        m = self.model
        hr = dict.fromkeys(range(_HOLDING_SIZE), 0)
        hr.update(enumerate(HOLDING_TEMPLATE))
        hr.update(
            encode_named(
                Bank.HOLDING,
                {
                    "device_type_code": f"{m.device_type_code:04x}",
                    "module": f"000308{m.rated_power_w // 100:02x}",
                    "serial_number": self.inverter_serial,
                    "first_battery_serial_number": self.packs[0].serial if self.packs else "",
                    "dsp_firmware_version": m.dsp_firmware,
                    "arm_firmware_version": m.arm_firmware,
                    "battery_capacity_ah": _PACK_AH * self.batteries,
                },
            )
        )
        if m.has_pause_mode:
            hr.update(AC_BANK_DEFAULTS)
        return hr

    @property
    def capacity_wh(self) -> float:
        """Usable capacity: HR55 Ah × 51.2 V (0 without batteries)."""
        return self.holding[55] * NOMINAL_VOLTAGE if self.batteries else 0.0

    # -- time ----------------------------------------------------------------------------

    def sync(self, now: dt.datetime) -> None:
        """Integrate up to ``now`` in steps of at most a minute, resetting at each midnight."""
        while self.time < now:
            midnight = dt.datetime.combine(self.time.date() + dt.timedelta(days=1), dt.time())
            end = min(now, self.time + dt.timedelta(seconds=STEP_SECONDS), midnight)
            self._step(self.time, (end - self.time).total_seconds())
            self.time = end
            if end == midnight:
                self.today = dict.fromkeys(TODAY_COUNTERS, 0.0)
        self.refresh()

    def jump(self, when: dt.datetime) -> None:
        """Set the time without integrating (a write to HR35-40); a new date resets today."""
        if when.date() != self.time.date():
            self.today = dict.fromkeys(TODAY_COUNTERS, 0.0)
        self.time = when
        self.refresh()

    def write(self, register: int, value: int) -> None:
        """Store a written holding register and react (a reboot takes REBOOT_SECONDS)."""
        self.holding[register] = value
        if register == 163 and value == 100:
            self.reboot_until = self.time + dt.timedelta(seconds=REBOOT_SECONDS)
        self.refresh()

    def refresh(self) -> None:
        """Recompute the instantaneous flows (after a write or a time change)."""
        self.flows = self._flows(self.time, STEP_SECONDS)

    def _step(self, when: dt.datetime, seconds: float) -> None:
        f = self._flows(when, seconds)
        hours = seconds / 3600
        self.today["pv1"] += f.pv1_w * hours
        self.today["pv2"] += f.pv2_w * hours
        self.totals["pv"] += f.pv_w * hours
        for key, power in (
            ("grid_export", f.grid_w),
            ("grid_import", -f.grid_w),
            ("inverter_out", f.inverter_w),
            ("battery_discharge", f.battery_w),
            ("battery_charge", -f.battery_w),
        ):
            if power > 0:
                self.today[key] += power * hours
                self.totals[key] += power * hours
        if f.inverter_w < 0:
            self.today["ac_charge"] -= f.inverter_w * hours
            self.totals["inverter_in"] -= f.inverter_w * hours
        if self.packs:
            energy = f.battery_w * hours
            self.soc = min(1.0, max(0.0, self.soc - energy / self.capacity_wh))
            for pack in self.packs:
                if energy > 0:
                    pack.discharge_wh += energy / len(self.packs)
                else:
                    pack.charge_wh -= energy / len(self.packs)
        self.work_seconds += seconds
        end = when + dt.timedelta(seconds=seconds)
        if self.holding[29] == 1 and self.soc <= 0.01:
            self.holding[29] = 3  # calibration: empty, now charge to full
        elif self.holding[29] == 3 and self.soc >= 0.999:
            self.holding[29] = 0  # calibration finished
        if self.reboot_until is not None and end >= self.reboot_until:
            self.reboot_until = None
            self.holding[163] = 0

    # -- physics -------------------------------------------------------------------------

    def _pv(self, when: dt.datetime) -> tuple[int, int]:
        """Two PV strings: a seasonal bell curve through the day times seeded cloudiness."""
        season = math.cos(2 * math.pi * (when.timetuple().tm_yday - 172) / 365.25)
        half_day = 6.0 + 2.3 * season  # hours from sunrise to solar noon
        hour = when.hour + when.minute / 60 + when.second / 3600
        x = (hour - (12.75 - half_day)) / (2 * half_day)
        if not 0 < x < 1:
            return 0, 0
        peak = (5200 if self.model.has_pv else 4000) * (0.6 + 0.35 * season)
        clear = 0.35 + 0.65 * _smooth(self.seed, "sky", when, 1800)
        total = peak * math.sin(math.pi * x) ** 1.5 * clear
        pv1 = total * 0.55 * (0.95 + 0.1 * _smooth(self.seed, "pv1", when, 300))
        pv2 = total * 0.45 * (0.95 + 0.1 * _smooth(self.seed, "pv2", when, 300))
        return round(pv1), round(pv2)

    def _load(self, when: dt.datetime) -> int:
        """House demand: base load, morning and evening peaks, seeded appliance spikes."""
        hour = when.hour + when.minute / 60
        load = 180 + 140 * _smooth(self.seed, "base", when, 3600)
        if 6.5 <= hour < 9:
            load += 350 * _smooth(self.seed, "morning", when, 900)
        if 17 <= hour < 22:
            load += 900 * _smooth(self.seed, "evening", when, 1200)
        spike = _bucket(self.seed, "appliance", int((when - _EPOCH).total_seconds() // 300))
        if spike < 0.07:
            load += 1800 + 10000 * spike  # kettle, oven, washing machine: 1.8-2.5 kW
        return round(load)

    def _flows(self, when: dt.datetime, seconds: float) -> Flows:
        pv1, pv2 = self._pv(when)
        load = self._load(when)
        if self.rebooting(when):
            # A rebooting inverter converts nothing: the house runs from the grid.
            return Flows(0, 0, load, 0, -load, 0, "rebooting")
        battery, mode = self._battery(when, pv1 + pv2, load, seconds)
        pv1, pv2, battery = self._export_limited(pv1, pv2, load, battery)
        inverter = pv1 + pv2 + battery if self.model.has_pv else battery
        return Flows(pv1, pv2, load, battery, pv1 + pv2 + battery - load, inverter, mode)

    def rebooting(self, when: dt.datetime) -> bool:
        return self.reboot_until is not None and when < self.reboot_until

    def _export_limited(self, pv1: int, pv2: int, load: int, battery: int) -> tuple[int, int, int]:
        """HR26 caps export: battery discharge is cut back first, then PV (AC-coupled PV is
        behind the CT, so only the battery can be cut there)."""
        limit = self.holding[26]
        excess = pv1 + pv2 + battery - load - limit
        if excess <= 0:
            return pv1, pv2, battery
        cut = min(max(battery, 0), excess)
        battery -= cut
        excess -= cut
        pv = pv1 + pv2
        if excess > 0 and pv > 0 and self.model.has_pv:
            keep = max(0.0, (pv - excess) / pv)
            pv1, pv2 = round(pv1 * keep), round(pv2 * keep)
        return pv1, pv2, battery

    def charge_slots(self) -> list[tuple[int, int, int | None]]:
        """(start, end, per-slot target register or None) for every charge slot modelled."""
        slots: list[tuple[int, int, int | None]] = [(94, 95, None)]
        if self.model.uses_charge_slot_2:
            slots.append((31, 32, None))
        if self.model.extended_slots:
            slots = [(94, 95, 242), (31, 32, 245)]
            slots += [(237 + 3 * k, 238 + 3 * k, 239 + 3 * k) for k in range(3, 11)]
        return slots

    def discharge_slots(self) -> list[tuple[int, int, int | None]]:
        slots: list[tuple[int, int, int | None]] = [(56, 57, None), (44, 45, None)]
        if self.model.extended_slots:
            slots = [(56, 57, 272), (44, 45, 275)]
            slots += [(267 + 3 * k, 268 + 3 * k, 269 + 3 * k) for k in range(3, 11)]
        return slots

    def _battery(self, when: dt.datetime, pv: int, load: int, seconds: float) -> tuple[int, str]:
        """Battery power (+ discharge) from the holding registers, within limits and SOC."""
        hr, m, cap = self.holding, self.model, self.capacity_wh
        if cap <= 0:
            return 0, "no battery"
        # HR111/112 are C/100: 50 = 0.5 C; never above the inverter's battery power limit.
        charge_max = min(m.battery_max_w, hr[111] / 100 * cap)
        discharge_max = min(m.battery_max_w, hr[112] / 100 * cap)
        if m.has_pause_mode and hr[318] and self._pause_window(when):
            charge_max = 0 if hr[318] in (1, 3) else charge_max
            discharge_max = 0 if hr[318] in (2, 3) else discharge_max
        ceiling = 1.0
        floor = min(hr[110], 100) / 100
        charging = next(
            (t for s, e, t in self.charge_slots() if hr[96] == 1 and in_slot(when, hr[s], hr[e])),
            False,
        )
        discharging = next(
            (
                t
                for s, e, t in self.discharge_slots()
                if hr[59] == 1 and in_slot(when, hr[s], hr[e])
            ),
            False,
        )
        if hr[29] in (1, 3):  # calibration: empty the battery, then fill it from the grid
            if hr[29] == 1:
                want, mode, floor = discharge_max, "calibration discharge", 0.0
            else:
                want, mode = -charge_max, "calibration charge"
        elif charging is not False:
            target = hr[116]
            if charging is not None and 4 <= hr[charging] <= 100:
                target = hr[charging]  # extended layout: the slot's own target
            ceiling = (target if hr[20] == 1 else 100) / 100
            want, mode = (-charge_max, "timed charge") if self.soc < ceiling else (0, "charged")
        elif discharging is not False:
            if discharging is not None and 4 <= hr[discharging] <= 100:
                floor = max(floor, hr[discharging] / 100)
            if hr[27] == 0:
                want, mode = discharge_max, "timed export"
            else:
                want, mode = load - pv, "timed demand"
        elif hr[27] == 1 and hr[59] == 0:
            want, mode = load - pv, "eco"
        else:
            want, mode = min(0, load - pv), "storing surplus"
        if want > 0:
            room_wh = (self.soc - floor) * cap
            limit = min(discharge_max, room_wh * 3600 / seconds, max(0, m.rated_power_w - pv))
            want = min(want, max(0.0, limit))
        elif want < 0:
            room_wh = (ceiling - self.soc) * cap
            want = max(want, -max(0.0, min(charge_max, room_wh * 3600 / seconds)))
        return round(want), mode

    def _pause_window(self, when: dt.datetime) -> bool:
        start, end = self.holding[319], self.holding[320]
        return (start == end == 0) or in_slot(when, start, end)

    # -- registers -----------------------------------------------------------------------

    def holding_registers(self) -> dict[int, int]:
        """The holding register file with HR35-40 showing the plant clock."""
        hr = dict(self.holding)
        hr.update(encode_named(Bank.HOLDING, {"system_time": self.time.replace(microsecond=0)}))
        return hr

    def _battery_voltage(self, pack: Pack) -> tuple[list[float], float]:
        """Cell voltages (V) and pack output voltage: SOC, current and seeded cell spread."""
        rate = self.flows.battery_w / max(1, self.model.battery_max_w)
        jitter = _smooth(self.seed, f"cells/{pack.serial}", self.time, 120)
        base = 3200 + 120 * self.soc - 25 * rate + 2 * jitter
        cells = [(base + off) / 1000 for off in pack.cell_offsets_mv]
        return cells, sum(cells) - 0.016

    def _battery_temperature(self) -> float:
        rate = abs(self.flows.battery_w) / max(1, self.model.battery_max_w)
        return 16 + 6 * _smooth(self.seed, "room", self.time, 6 * 3600) + 3 * rate

    def input_registers(self) -> dict[int, int]:
        """Inverter IR 0-59, 120-239 (unlisted registers read 0), from the current flows."""
        f, m, t, seed = self.flows, self.model, self.time, self.seed
        v_ac = 236 + 8 * _smooth(seed, "v_ac", t, 300)
        pv1, pv2 = (f.pv1_w, f.pv2_w) if m.has_pv else (0, 0)
        v_pv1 = 330 + 30 * _smooth(seed, "v_pv1", t, 600) if pv1 else 4.5
        v_pv2 = 330 + 30 * _smooth(seed, "v_pv2", t, 600) if pv2 else 4.1
        v_batt = self._battery_voltage(self.packs[0])[1] if self.packs else 0.0
        kwh = {key: value / 1000 for key, value in self.totals.items()}
        today = {key: value / 1000 for key, value in self.today.items()}
        charge_status = 2 if f.battery_w < 0 else 5 if f.battery_w > 0 else 0
        eps_on = not m.has_pause_mode or self.holding[317] == 1  # HR317 on the AC bank
        values: dict[str, Any] = {
            "inverter_status": 0 if self.rebooting(t) else 1,
            "v_pv1": round(v_pv1, 1),
            "v_pv2": round(v_pv2, 1),
            "v_p_bus": 383.0,
            "v_ac1": round(v_ac, 1),
            "e_battery_throughput_total": kwh["battery_charge"] + kwh["battery_discharge"],
            "i_pv1": round(pv1 / v_pv1, 1),
            "i_pv2": round(pv2 / v_pv2, 1),
            "i_ac1": round(abs(f.inverter_w) / v_ac, 1),
            "e_pv_total": kwh["pv"] if m.has_pv else 0.0,
            "f_ac1": round(49.9 + 0.2 * _smooth(seed, "f_ac", t, 60), 2),
            "charge_status": charge_status,
            "v_highbrigh_bus": 283.0,
            "pf_inverter_output": -0.0469 if f.inverter_w < 0 else 0.9982,
            "e_pv1_day": today["pv1"] if m.has_pv else 0.0,
            "p_pv1": pv1,
            "e_pv2_day": today["pv2"] if m.has_pv else 0.0,
            "p_pv2": pv2,
            "e_grid_out_total": kwh["grid_export"],
            "p_inverter_out": f.inverter_w,
            "e_grid_out_day": today["grid_export"],
            "e_grid_in_day": today["grid_import"],
            "e_inverter_in_total": kwh["inverter_in"],
            "p_grid_out": f.grid_w,
            "p_eps_backup": 0,
            "e_grid_in_total": kwh["grid_import"],
            "e_ac_charge_day": today["ac_charge"],
            "e_battery_charge_day": today["battery_charge"],
            "e_battery_discharge_day": today["battery_discharge"],
            "temp_inverter_heatsink": round(
                24 + 6 * _smooth(seed, "heatsink", t, 3600) + 16 * abs(f.inverter_w) / 5000, 1
            ),
            "p_load_demand": f.load_w,
            "p_grid_apparent": abs(f.grid_w),
            "e_inverter_out_day": today["inverter_out"],
            "e_inverter_out_total": kwh["inverter_out"],
            "work_time_total": int(self.work_seconds // 3600),
            "system_mode": 1,
            "v_battery": round(v_batt, 2),
            "i_battery": round(f.battery_w / v_batt, 2) if v_batt else 0.0,
            "p_battery": f.battery_w,
            "v_eps_backup": round(v_ac, 1) if eps_on else 0.0,
            "f_eps_backup": 50.0 if eps_on else 0.0,
            "temp_charger": round(22 + 4 * _smooth(seed, "charger", t, 3600), 1),
            "temp_battery": round(self._battery_temperature(), 1),
            "i_grid_port": round(f.grid_w / v_ac, 2),
            "battery_percent": round(self.soc * 100),
        }
        if m.gen1_battery_counters:
            values |= {
                "e_battery_discharge_total_gen1": _wrap16(kwh["battery_discharge"]),
                "e_battery_charge_total_gen1": _wrap16(kwh["battery_charge"]),
                "e_battery_discharge_day_gen1": today["battery_discharge"],
                "e_battery_charge_day_gen1": today["battery_charge"],
            }
        if m.battery_totals_32bit:
            values |= {
                "e_battery_charge_total_2": kwh["battery_charge"],
                "e_battery_discharge_total_2": kwh["battery_discharge"],
            }
        raw = dict.fromkeys([*range(0, 60), *range(120, 240)], 0)
        raw.update(encode_named(Bank.INPUT, _round_energies(values)))
        return raw

    def battery_registers(self, index: int) -> dict[int, int]:
        """BMS page IR 60-119 of battery ``index`` (0-based)."""
        pack = self.packs[index]
        cells, v_out = self._battery_voltage(pack)
        temp = self._battery_temperature()
        temps = [round(temp + off, 1) for off in pack.temp_offsets]
        values: dict[str, Any] = {
            **{f"v_cell_{i + 1:02d}": round(v, 3) for i, v in enumerate(cells)},
            **{f"t_cells_{4 * i + 1:02d}_{4 * i + 4:02d}": v for i, v in enumerate(temps)},
            "v_cells_sum": round(sum(cells), 3),
            "t_bms_mosfet": round(temp + 1.5, 1),
            "v_out": round(v_out, 3),
            "cap_calibrated": pack.calibrated_ah,
            "cap_design": pack.design_ah,
            "cap_remaining": round(pack.calibrated_ah * self.soc, 2),
            "status_3": 0x0E,
            "status_4": 0x10,
            "status_5": 1,
            "i_battery": round(self.flows.battery_w / len(self.packs) / v_out, 2),
            "num_cycles": int(pack.discharge_wh / (pack.design_ah * NOMINAL_VOLTAGE)),
            "num_cells": 16,
            "bms_firmware_version": 3005,
            "soc": round(self.soc * 100),
            "cap_design2": pack.design_ah,
            "t_max": max(temps),
            "t_min": min(temps),
            "e_battery_discharge_total": _wrap16(pack.discharge_wh / 1000),
            "e_battery_charge_total": _wrap16(pack.charge_wh / 1000),
            "serial_number": pack.serial,
            "usb_device_inserted": 8,
        }
        raw = dict.fromkeys(range(60, 120), 0)
        raw.update(encode_named(Bank.BATTERY, values))
        return raw

    def summary(self) -> dict[str, Any]:
        """True physical state for tests (the ``plant`` part of Simulator.truth())."""
        f = self.flows
        return {
            "pv_power_w": f.pv_w,
            "pv1_power_w": f.pv1_w,
            "pv2_power_w": f.pv2_w,
            "pv_on_inverter": self.model.has_pv,
            "load_w": f.load_w,
            "battery_power_w": f.battery_w,
            "grid_power_w": f.grid_w,
            "inverter_power_w": f.inverter_w,
            "battery_mode": f.mode,
            "rebooting": self.rebooting(self.time),
            "eps_enabled": not self.model.has_pause_mode or self.holding[317] == 1,
            "calibration_stage": self.holding[29],
            "export_limit_w": self.holding[26],
            "soc": round(self.soc * 100, 3),
            "battery_capacity_wh": self.capacity_wh,
            "energy_today_kwh": {k: round(v / 1000, 4) for k, v in self.today.items()},
            "energy_total_kwh": {k: round(v / 1000, 4) for k, v in self.totals.items()},
            "dongle_serial": self.dongle_serial,
            "inverter_serial": self.inverter_serial,
            "battery_serials": [p.serial for p in self.packs],
        }


def _round_energies(values: dict[str, Any]) -> dict[str, Any]:
    """Energy counters to the registers' 0.1 kWh resolution, rounding down as counters do."""
    return {
        k: math.floor(v * 10 + 1e-9) / 10 if k.startswith("e_") else v for k, v in values.items()
    }
