"""Which model this is, decided once and remembered; reading its read plan.

HR(0,60) is read first on every run (identity, serial); its device type code picks the family
from the manifest. A family this version cannot decode is refused right there (exit 1, nothing
published but MQTT "offline"). The decision, and the device address that answered each bank
with a fallback (an AC inverter behind an EMS serves HR(60,60) at 0x31), are remembered in the
state folder like the battery list, so later runs go straight to the address that answers.
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import json
import logging
from typing import Any, NamedTuple

from givenergy_modbus_codec import hv_stack, manifest, reader
from givenergy_modbus_codec.errors import InverterTimeout, TransportError
from givenergy_modbus_codec.families import hv_battery
from givenergy_modbus_codec.frames import Function
from givenergy_modbus_codec.hv_stack import HvStack
from givenergy_modbus_codec.transport import DongleClient

from .batteries import battery_plan
from .config import Settings
from .files import read_text, write_atomic

log = logging.getLogger(__name__)


class PlannedRead(NamedTuple):
    """What one run read, for which family, and which battery addresses it tried."""

    family: manifest.Family
    snapshot: reader.RegisterSnapshot
    known: tuple[int, ...]  # LV battery addresses known to hold a battery
    probes: tuple[int, ...]  # LV battery addresses probed this run
    hv_stacks: tuple[HvStack, ...]  # HV families: the stacks found this run
    devices: dict[str, int]  # plan label -> the fallback address that answered it

    def where(self, bank: reader.Bank) -> reader.Bank:
        """``bank`` at the address that answered it this run (re-reads must go there too)."""
        device = self.devices.get(bank.label)
        return bank if device is None else manifest.at_device(bank, device)


def _model_path(settings: Settings) -> str:
    return settings.state_file("model")


def remembered(settings: Settings) -> dict[str, Any]:
    """The remembered model ({} when none or unreadable)."""
    try:
        cached = json.loads(read_text(_model_path(settings)))
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _remember(settings: Settings, model: dict[str, Any]) -> None:
    try:
        write_atomic(_model_path(settings), json.dumps(model, sort_keys=True))
    except OSError as exc:
        log.warning("cannot remember the inverter model in %s: %s", settings.state_folder, exc)


def device_type_code(snapshot: reader.RegisterSnapshot) -> str | None:
    """HR0 as 4 hex digits, as model.py decodes it (None when HR0 was not read)."""
    raw = snapshot.holding.get(0)
    return None if raw is None else f"{raw:04x}"


def decide(settings: Settings, code: str | None) -> tuple[manifest.Family, dict[str, Any]]:
    """The family of ``code`` (UnsupportedModel when this version cannot read it) and the
    remembered model record, started afresh when the code changed (another inverter)."""
    family = manifest.require_supported(code)
    model = remembered(settings)
    if model.get("device_type_code") != code or model.get("family") != family.key:
        if model:
            log.warning(
                "inverter model changed from %s to %s: deciding again",
                model.get("device_type_code"),
                code,
            )
        model = {"device_type_code": code, "family": family.key, "devices": {}}
        _remember(settings, model)
    return family, model


def read_planned(
    dongle: DongleClient, function: str, settings: Settings, with_batteries: bool
) -> PlannedRead:
    """Read HR(0,60), decide the model, then read the rest of its plan for ``function``.

    A required bank that no address answers raises InverterTimeout; optional ones are only
    recorded in ``snapshot.failures``.
    """
    snapshot = reader.read_banks(dongle, (reader.HR_0,))
    known_code = remembered(settings).get("device_type_code")
    if known_code is not None and device_type_code(snapshot) != known_code:
        # Another inverter, or a garbled page? A second read decides (dongles substitute
        # whole blocks now and then, protocol.md §9).
        log.info(
            "HR0 reads %s, remembered %s: reading HR(0,60) again",
            device_type_code(snapshot),
            known_code,
        )
        snapshot = reader.read_banks(dongle, (reader.HR_0,))
    family, model = decide(settings, device_type_code(snapshot))
    devices: dict[str, int] = dict(model.get("devices") or {})
    learned = False
    for planned in family.plan(function):
        if planned.bank == reader.HR_0:
            continue
        device = _read_with_fallbacks(dongle, planned, devices.get(planned.label), snapshot)
        if device is None and not planned.optional:
            reasons = "; ".join(f"{k}: {v}" for k, v in snapshot.failures.items())
            raise InverterTimeout(f"the inverter gave no valid answer ({reasons})")
        if device is not None and devices.get(planned.label, planned.bank.device) != device:
            devices[planned.label] = device
            learned = True
    if learned:
        _remember(settings, {**model, "devices": devices})
    known: tuple[int, ...] = ()
    probes: tuple[int, ...] = ()
    if with_batteries and family.battery == manifest.BATTERY_LV:
        known, probes = battery_plan(settings)
        _merge(snapshot, reader.read_banks(dongle, (), known, probes))
    stacks: tuple[HvStack, ...] = ()
    if with_batteries and family.battery == manifest.BATTERY_HV:
        stacks = read_hv_stacks(dongle, snapshot)
    return PlannedRead(family, snapshot, known, probes, stacks, devices)


HV_PROBE_TIMEOUT = 1.0  # the BMS summary decides whether there is a stack: one short try


def _battery_page(
    dongle: DongleClient,
    device: int,
    base: int,
    snapshot: reader.RegisterSnapshot,
    probe: bool = False,
) -> dict[int, int]:
    """IR(base,60) at a battery address; {} (reason in ``failures``) when it is not served."""
    bank = reader.Bank(device, Function.READ_INPUT, base)
    try:
        page = dongle.read(
            device,
            Function.READ_INPUT,
            base,
            bank.count,
            timeout=HV_PROBE_TIMEOUT if probe else None,
            retries=0 if probe else None,
        )
    except TransportError as exc:
        snapshot.failures[bank.label] = str(exc)
        log.info("%s not read: %s", bank.label, exc)
        return {}
    snapshot.banks_read.append(bank.label)
    return page.registers()


def read_hv_stacks(dongle: DongleClient, snapshot: reader.RegisterSnapshot) -> tuple[HvStack, ...]:
    """The HV stacks: the BMS summary at 0xA0 says how many BCUs; each BCU (0x70 + n) how many
    modules, read at 0x50 onwards (numbered on across stacks). Every page is optional: one
    that is not served is recorded in ``failures`` and never fails the run."""
    stacks = []
    module = hv_battery.FIRST_BMU_ADDRESS
    bms = _battery_page(dongle, hv_battery.BMS_ADDRESS, 60, snapshot, probe=True)
    for index, address in enumerate(hv_stack.bcu_addresses(hv_stack.bcu_count(bms))):
        bcu = _battery_page(dongle, address, 60, snapshot)
        if not bcu:
            continue
        bcu.update(_battery_page(dongle, address, 120, snapshot))
        count = bcu.get(64, 0)
        pages = {}
        for device in hv_stack.module_addresses(module, count):
            if page := _battery_page(dongle, device, 60, snapshot):
                pages[device] = page
        module += count
        stacks.append(hv_stack.decode_stack(index, bcu, pages))
    return tuple(stacks)


def _read_with_fallbacks(
    dongle: DongleClient,
    planned: manifest.PlannedBank,
    preferred: int | None,
    snapshot: reader.RegisterSnapshot,
) -> int | None:
    """Read one planned bank, trying the remembered address first, then the plan's order.
    Returns the address that answered (None: none did; the reasons are in ``failures``)."""
    order = manifest.plan_devices(planned)
    if preferred in order:
        order = (preferred, *(d for d in order if d != preferred))
    reasons: list[str] = []
    for device in order:
        bank = manifest.at_device(planned.bank, device)
        try:
            page = reader.read_banks(dongle, (bank,))
            failure = page.failures.get(bank.label)  # an optional bank is recorded, not raised
        except TransportError as exc:
            failure = str(exc)
        if failure is not None:
            reasons.append(f"{bank.label}: {failure}" if device != planned.bank.device else failure)
            continue
        _merge(snapshot, page)
        return device
    snapshot.failures[planned.label] = "; ".join(reasons)
    return None


def _merge(snapshot: reader.RegisterSnapshot, more: reader.RegisterSnapshot) -> None:
    snapshot.holding.update(more.holding)
    snapshot.input.update(more.input)
    snapshot.batteries.update(more.batteries)
    snapshot.failures.update(more.failures)
    snapshot.uncertain.update(more.uncertain)
    snapshot.banks_read.extend(more.banks_read)
    snapshot.inverter_serial = snapshot.inverter_serial or more.inverter_serial
