"""``Simulator``: the in-process API that tests and the command line use.

It runs the dongle server (and optionally the HTTP control endpoint) on its own asyncio loop
in a daemon thread, so blocking clients in the test thread can talk to it over real TCP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from .control import ControlServer
from .device import Device, DongleDevice
from .faults import Faults
from .models import MAX_BATTERIES, MODELS
from .replay import ReplayDevice
from .server import DongleServer, RequestRecord

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything fixed for one simulator run (faults stay live-settable via ``sim.faults``).

    ``start_time`` is naive local time (None: now, whole seconds). ``speed`` multiplies wall
    time for the plant clock; 0 freezes it so tests move it with ``Simulator.advance``.
    ``heartbeat`` is in wall seconds, 0 disables it. ``strict`` drops malformed requests
    silently (legacy CRC, 0x1b header length) as the All-in-One does; the default lenient
    profile accepts them as hybrid and AC firmware does. ``control_port`` None: no HTTP
    control endpoint; 0: any free port. ``replay``: serve the registers of this capture file
    instead of the plant model (``model``, ``batteries``, ``start_time`` are then unused;
    ``replay_step`` steps through the capture at ``speed``; see ``replay.py``).
    """

    seed: int = 0
    model: str = "hybrid"
    batteries: int = 1
    speed: float = 1.0
    heartbeat: float = 180.0
    strict: bool = False
    start_time: dt.datetime | None = None
    host: str = "127.0.0.1"
    port: int = 0
    control_port: int | None = None
    faults: Faults = field(default_factory=Faults)
    replay: str | Path | None = None
    replay_step: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {self.model!r}")
        if not 0 <= self.batteries <= MAX_BATTERIES:
            raise ValueError(f"batteries must be 0..{MAX_BATTERIES}, not {self.batteries}")
        if self.speed < 0 or self.heartbeat < 0:
            raise ValueError("speed and heartbeat cannot be negative")
        if self.start_time is not None and self.start_time.tzinfo is not None:
            raise ValueError("start_time is naive local time (the inverter clock has no zone)")


class Simulator:
    """A simulated GivEnergy dongle + inverter + batteries on 127.0.0.1.

    Usage::

        with Simulator(SimulatorConfig(seed=1, speed=0.0)) as sim:
            client = ...connect to ("127.0.0.1", sim.port)...
            sim.faults.crc_error_rate = 0.5
            sim.advance(3600)
            assert sim.truth()["input"][59] == ...
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        cfg = self.config
        self.device: DongleDevice
        if cfg.replay is not None:
            self.device = ReplayDevice.from_file(cfg.replay, step=cfg.replay_step, speed=cfg.speed)
        else:
            start = cfg.start_time or dt.datetime.now().replace(microsecond=0)
            self.device = Device(MODELS[cfg.model], cfg.batteries, cfg.seed, start, cfg.speed)
        self.faults: Faults = dataclasses.replace(cfg.faults)
        self._server = DongleServer(
            self.device, self.faults, heartbeat=cfg.heartbeat, strict=cfg.strict, seed=cfg.seed
        )
        self._control = ControlServer(
            self.truth, self._server.records, self.faults, self.advance, self._server.heartbeat_all
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.control_port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, host: str | None = None, port: int | None = None) -> int:
        """Start serving (host/port default to the config); returns the bound port."""
        if self._loop is not None or self.port is not None:
            raise RuntimeError("a Simulator runs once: create a new one to start again")
        host = self.config.host if host is None else host
        port = self.config.port if port is None else port
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run, args=(loop,), name="givenergy-simulator", daemon=True
        )
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._open(host, port), loop)
        try:
            self.port = future.result(_START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self.port

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _open(self, host: str, port: int) -> int:
        bound = await self._server.start(host, port)
        if self.config.control_port is not None:
            self.control_port = await self._control.start(host, self.config.control_port)
        return bound

    def stop(self) -> None:
        """Close every connection and the listeners, then end the loop thread (bounded)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(_STOP_TIMEOUT)
            except TimeoutError:
                future.cancel()
            loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT)
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        await self._server.close()
        await self._control.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- ground truth and control --------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """Snapshot of the TRUE state (never fault-injected), synchronised to the clock.

        A replay gives "time", "model" ("replay"), "replay" (file, frames, step),
        "dongle_serial" and "devices" {"0x11": {"inverter_serial", "holding", "input"}, ...};
        the plant model gives:

        Keys: "time" (datetime), "model", "holding" {addr: raw} (implemented registers,
        HR35-40 = clock), "input" {addr: raw} (IR 0-59, 120-239), "batteries" {device address:
        {60..119: raw}}, "plant" {"pv_power_w", "pv1_power_w", "pv2_power_w", "load_w",
        "battery_power_w" (+ discharge), "grid_power_w" (+ export), "inverter_power_w",
        "battery_mode", "soc" (%, float), "battery_capacity_wh", "energy_today_kwh" {...},
        "energy_total_kwh" {...}, "dongle_serial", "inverter_serial", "battery_serials"}.
        """
        return self.device.truth()

    @property
    def requests(self) -> list[RequestRecord]:
        """Frames received so far (the last 10,000), oldest first."""
        return self._server.records()

    def advance(self, seconds: float) -> dt.datetime:
        """Move the plant clock forward (works with speed 0); returns the new time."""
        return self.device.advance(seconds)

    def now(self) -> dt.datetime:
        """The plant clock."""
        return self.device.now()

    @property
    def connections(self) -> int:
        """Clients currently connected."""
        return self._server.connections

    def send_heartbeat_now(self) -> None:
        """Queue a heartbeat request to every connected client, before returning."""
        if self._loop is None:
            raise RuntimeError("simulator not started")
        future = asyncio.run_coroutine_threadsafe(self._server.heartbeat_all(), self._loop)
        future.result(_STOP_TIMEOUT)
