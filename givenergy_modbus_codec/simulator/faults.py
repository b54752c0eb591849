"""Fault injection: the ways real dongles misbehave (protocol.md §9), switchable at run time.

Every random choice comes from one RNG seeded from the simulator seed, so a run with the same
requests in the same order repeats. The garbage values are fixed, not random: tests can look
for them.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..frames import (
    Frame,
    Function,
    LanBroadcast,
    NullFrame,
    ReadRequest,
    ReadResponse,
    Request,
    WriteResponse,
    answers,
)
from ..registers import Bank, by_name
from .models import BATTERY_PAGE, FIRST_BATTERY, INVERTER

TOTAL_JUMP_RAW = 22000  # +2200.0 kWh on a lifetime counter
_KINDS: dict[str, type] = {"float": float, "int": int, "bool": bool}


@dataclass
class Faults:
    """Live fault switches; assign fields at any time (``sim.faults.latency = 0.3``).

    All off by default. Rates are probabilities per response, 0..1.
    """

    latency: float = 0.0  # seconds before every answer
    jitter: float = 0.0  # plus uniform 0..jitter seconds
    stall_rate: float = 0.0  # rate of an extra stall_seconds delay ("rare multi-second stalls")
    stall_seconds: float = 3.0
    close_after_frames: int = 0  # >0: close each connection after it was sent this many frames
    close_mid_frame: bool = False  # with close_after_frames: send only half of the last frame
    chunk_size: int = 0  # >0: send frames in pieces of this many bytes ...
    chunk_delay: float = 0.005  # ... this many seconds apart
    garbage_bytes: int = 0  # this many random non-frame bytes before every frame sent
    crc_error_rate: float = 0.0  # answers sent with a corrupted CRC
    phantom_rate: float = 0.0  # a response to a request nobody on this link sent, first
    null_frame_rate: float = 0.0  # an all-zero null frame before the answer
    lan_broadcast_rate: float = 0.0  # a LAN-config broadcast before the answer
    zero_battery_page_rate: float = 0.0  # battery pages answered with all zeros
    garbage_values_rate: float = 0.0  # absurd values with a valid CRC ("Pattern A")
    garbled_serial_rate: float = 0.0  # HR answers with a garbled inverter serial (HR13-17)
    silent: bool = False  # accept connections and requests, never answer
    silent_after_answers: int = 0  # >0: answer this many requests (since start), then silence
    drop_writes: bool = False  # writes neither applied nor answered (as a Gen2 AC 3001 does)
    readback_mismatch: bool = False  # writes echoed as asked but not applied (read-back differs)
    echo_mismatch: bool = False  # writes applied but echoed with another value (echo differs)
    silent_after_writes: int = 0  # >0: answer this many more writes; the next one turns on silent

    def update(self, changes: Mapping[str, Any]) -> None:
        """Set several fields, checking names, types and ranges (the control endpoint uses it)."""
        kinds = {f.name: _KINDS[str(f.type)] for f in dataclasses.fields(self)}
        for name, value in changes.items():
            kind = kinds.get(name)
            if kind is None:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(kinds)}")
            if (kind is bool) != isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(
                    f"fault {name} takes {'true or false' if kind is bool else 'a number'}"
                )
            if kind is int and value != int(value):
                raise ValueError(f"fault {name} takes a whole number")
            if value < 0 or (name.endswith("_rate") and value > 1):
                raise ValueError(
                    f"fault {name} must be {'0..1' if name.endswith('_rate') else '>= 0'}"
                )
            setattr(self, name, kind(value))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _raw(bank: Bank, name: str) -> int:
    return by_name(bank, name).addresses[0]


# "Pattern A" (dewet22/givenergy-modbus #78): a substituted IR(0..59) block with absurd values.
PATTERN_A_SET: dict[int, int] = {
    _raw(Bank.INPUT, "p_pv1"): 65535,
    _raw(Bank.INPUT, "p_pv2"): 65535,
    _raw(Bank.INPUT, "p_load_demand"): 65535,
    _raw(Bank.INPUT, "battery_percent"): 255,
    _raw(Bank.INPUT, "temp_battery"): 2058,  # 205.8 °C
    _raw(Bank.INPUT, "temp_charger"): 257,  # 25.7 °C
}
PATTERN_A_JUMP = (
    "e_pv_total",
    "e_grid_in_total",
    "e_inverter_out_total",
    "e_battery_discharge_total_gen1",
)
# A spliced battery page: valid CRC, SOC 255, cells and temperatures nonsense.
BATTERY_GARBAGE_SET: dict[int, int] = {
    _raw(Bank.BATTERY, "soc"): 255,
    _raw(Bank.BATTERY, "num_cells"): 255,
    **{_raw(Bank.BATTERY, f"t_cells_{4 * i + 1:02d}_{4 * i + 4:02d}"): 2058 for i in range(4)},
    _raw(Bank.BATTERY, "v_cell_01"): 65535,
}
BATTERY_GARBAGE_JUMP = ("e_battery_discharge_total", "e_battery_charge_total")


def garbage_values(
    device: int, function: int, base: int, values: tuple[int, ...]
) -> tuple[int, ...]:
    """The block with the deterministic garbage overlay applied where it overlaps."""
    regs = {base + i: v for i, v in enumerate(values)}
    battery_page = (
        function == Function.READ_INPUT and base in BATTERY_PAGE and device >= FIRST_BATTERY
    )
    if battery_page:
        sets, jumps, bank = BATTERY_GARBAGE_SET, BATTERY_GARBAGE_JUMP, Bank.BATTERY
    elif function == Function.READ_INPUT:
        sets, jumps, bank = PATTERN_A_SET, PATTERN_A_JUMP, Bank.INPUT
    else:
        return values
    for address, raw in sets.items():
        if address in regs:
            regs[address] = raw
    for name in jumps:
        addresses = by_name(bank, name).addresses
        if all(a in regs for a in addresses):
            number = 0
            for a in addresses:
                number = (number << 16) | regs[a]
            number = (number + TOTAL_JUMP_RAW) % (1 << (16 * len(addresses)))
            for a in reversed(addresses):
                regs[a], number = number & 0xFFFF, number >> 16
    return tuple(regs[base + i] for i in range(len(values)))


# A garbled inverter serial (valid CRC): fails the serial pattern, as real dongles' do.
GARBLED_SERIAL = "S\x00#2?5G0\xff1"
_SERIAL_REGISTERS = by_name(Bank.HOLDING, "serial_number").addresses


def garbled_serial_applies(frame: ReadResponse) -> bool:
    covered = range(frame.base, frame.base + frame.count)
    return frame.function == Function.READ_HOLDING and all(a in covered for a in _SERIAL_REGISTERS)


def garble_serial(base: int, values: tuple[int, ...]) -> tuple[int, ...]:
    """``values`` with HR13-17 replaced by GARBLED_SERIAL's bytes."""
    raw = GARBLED_SERIAL.encode("latin-1")
    garbled = list(values)
    for i, address in enumerate(_SERIAL_REGISTERS):
        garbled[address - base] = (raw[2 * i] << 8) | raw[2 * i + 1]
    return tuple(garbled)


PHANTOM_SHAPES = (
    (INVERTER, Function.READ_INPUT, 0, 60),  # what the GivEnergy cloud polls every ~10-35 s
    (INVERTER, Function.READ_HOLDING, 0, 60),
    (INVERTER, Function.READ_INPUT, 180, 60),
    (FIRST_BATTERY, Function.READ_INPUT, 60, 60),
)
_PHANTOM_JITTER = (  # IR registers nudged so a phantom page differs from the true one
    _raw(Bank.INPUT, "p_pv1"),
    _raw(Bank.INPUT, "p_load_demand"),
    _raw(Bank.INPUT, "p_grid_out"),
    _raw(Bank.INPUT, "v_ac1"),
)


class FaultPlan:
    """Decides, with a seeded RNG, which faults hit each answer."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self.rng = random.Random(f"faults/{seed}")

    def hit(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def delay(self) -> float:
        f = self.faults
        extra = f.stall_seconds if self.hit(f.stall_rate) else 0.0
        return f.latency + (self.rng.uniform(0, f.jitter) if f.jitter > 0 else 0.0) + extra

    def phantom_shape(
        self, request: Request, shapes: list[tuple[int, int, int, int]]
    ) -> tuple[int, int, int, int] | None:
        """A block shape the client did not ask for (so a correct client must drop it)."""
        candidates = [
            s
            for s in shapes
            if not answers(request, ReadResponse(s[0], s[1], "", s[2], (0,) * s[3], ""))
        ]
        return self.rng.choice(candidates) if candidates else None

    def phantom_values(self, function: int, base: int, values: tuple[int, ...]) -> tuple[int, ...]:
        """'Slightly different' values, as a read made a moment earlier would return."""
        if function != Function.READ_INPUT or base != 0:
            return values
        nudged = list(values)
        for address in _PHANTOM_JITTER:
            if address < len(nudged):
                nudged[address] = (nudged[address] + self.rng.randint(1, 40)) & 0xFFFF
        return tuple(nudged)

    def extras(self, adapter_serial: str) -> list[Frame]:
        """Unsolicited null / LAN frames to send before an answer."""
        frames: list[Frame] = []
        if self.hit(self.faults.null_frame_rate):
            frames.append(NullFrame(self.rng.choice((0x32, 0x33)), adapter_serial))
        if self.hit(self.faults.lan_broadcast_rate):
            frames.append(LanBroadcast("192.168.0.50,255.255.255.0,192.168.0.1", adapter_serial))
        return frames

    def mangle(self, request: Request, frame: Frame) -> tuple[Frame, str]:
        """Replace a read answer's values per the value faults; says which, if any."""
        if not isinstance(frame, ReadResponse) or not isinstance(request, ReadRequest):
            return frame, ""
        battery_page = (
            frame.function == Function.READ_INPUT
            and frame.device >= FIRST_BATTERY
            and set(range(frame.base, frame.base + frame.count)) <= set(BATTERY_PAGE)
        )
        if battery_page and self.hit(self.faults.zero_battery_page_rate):
            return frame._replace(values=(0,) * frame.count), "zero battery page"
        if garbled_serial_applies(frame) and self.hit(self.faults.garbled_serial_rate):
            return frame._replace(values=garble_serial(frame.base, frame.values)), "garbled serial"
        if self.hit(self.faults.garbage_values_rate):
            values = garbage_values(frame.device, frame.function, frame.base, frame.values)
            if values != frame.values:
                return frame._replace(values=values), "garbage values"
        return frame, ""

    def mangle_write(self, frame: Frame) -> tuple[Frame, str]:
        """A write echo carrying another value than the one stored (echo_mismatch)."""
        if not isinstance(frame, WriteResponse) or not self.faults.echo_mismatch:
            return frame, ""
        return frame._replace(value=(frame.value + 1) & 0xFFFF), "echo_mismatch"

    def corrupt(self, data: bytes) -> tuple[bytes, bool]:
        """Flip the CRC of an encoded transparent frame at crc_error_rate."""
        if not self.hit(self.faults.crc_error_rate):
            return data, False
        return data[:-2] + bytes([data[-2] ^ 0xA5, data[-1] ^ 0x5A]), True

    def garbage(self) -> bytes:
        """Noise between frames; never contains 0x59, so it cannot fake a frame start."""
        n = self.faults.garbage_bytes
        return bytes(b if b != 0x59 else 0x5A for b in self.rng.randbytes(n)) if n > 0 else b""
