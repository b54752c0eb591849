"""Which register banks a read function needs, and reading each at most once per run.

The plan is pure (``banks_for``); ``read_banks`` does the I/O through a DongleClient. Battery
pages are probed at 0x32.. with a short timeout, because absent batteries answer nothing, and
only up to the first address that is silent: batteries are numbered contiguously from 0x32
(by their DIP switches; GivEnergy's own GivTCP also stops at the first empty one).
"""

# No "from __future__ import annotations": typing.NamedTuple would compile every string
# annotation, ~4 ms of each cron-started read.py (checked by tests/test_import_cost.py).

import logging
from typing import NamedTuple

from .errors import AnswerLost, InverterRefused, InverterTimeout, TransportError
from .frames import BATTERY_ADDRESSES, INVERTER_ADDRESS, Function, ReadRequest
from .records import Record
from .transport import DongleClient

log = logging.getLogger(__name__)

FIRST_BATTERY_ADDRESS = BATTERY_ADDRESSES[0]
MAX_BATTERIES = len(BATTERY_ADDRESSES)
PROBE_RETRIES = 2  # spent only on transport faults: a silent address is asked once


class Bank(NamedTuple):
    """One 60-register read: (device, function, base)."""

    device: int
    function: int
    base: int
    count: int = 60

    @property
    def label(self) -> str:
        prefix = "HR" if self.function == Function.READ_HOLDING else "IR"
        return f"{prefix}({self.base},{self.count})@{self.device:#04x}"

    def request(self) -> ReadRequest:
        return ReadRequest(self.device, self.function, self.base, self.count)


HR_0 = Bank(INVERTER_ADDRESS, Function.READ_HOLDING, 0)
HR_60 = Bank(INVERTER_ADDRESS, Function.READ_HOLDING, 60)
IR_0 = Bank(INVERTER_ADDRESS, Function.READ_INPUT, 0)
IR_180 = Bank(INVERTER_ADDRESS, Function.READ_INPUT, 180)

# HR(0,60) is always read: it identifies the model and carries the inverter serial.
READ_FUNCTION_BANKS: dict[str, tuple[Bank, ...]] = {
    "getTimeslots": (HR_0, HR_60),
    "getModesandTimes": (HR_0, HR_60),
    "getCombinedStats": (HR_0, IR_0, IR_180),
    "runAll": (HR_0, HR_60, IR_0, IR_180),
}
# Banks a run can do without: IR(180,60) is not implemented by every model. Every other
# inverter bank is required: once one has failed, the run stops (see read_banks).
OPTIONAL_BANKS = frozenset({IR_180})
FUNCTIONS_WITH_BATTERIES = frozenset({"getCombinedStats", "runAll"})
READ_ALIASES = {"runALL": "runAll"}  # the original's README spells it so


def canonical_function(name: str) -> str | None:
    """The read function ``name`` stands for (aliases resolved), or None if there is none."""
    name = READ_ALIASES.get(name, name)
    return name if name in READ_FUNCTION_BANKS else None


def battery_bank(index: int) -> Bank:
    """IR(60,60) of battery ``index`` (0-based) at 0x32 + index."""
    return Bank(FIRST_BATTERY_ADDRESS + index, Function.READ_INPUT, 60)


class RegisterSnapshot(Record):
    """Raw registers gathered in one run, plus what could not be read and why."""

    _fields = (
        "holding",
        "input",
        "batteries",
        "inverter_serial",
        "failures",
        "banks_read",
        "uncertain",
    )
    __slots__ = _fields

    def __init__(
        self,
        holding: dict[int, int] | None = None,
        input: dict[int, int] | None = None,
        batteries: dict[int, dict[int, int]] | None = None,
        inverter_serial: str | None = None,
        failures: dict[str, str] | None = None,
        banks_read: list[str] | None = None,
        uncertain: dict[int, str] | None = None,
    ) -> None:
        self.holding: dict[int, int] = {} if holding is None else holding
        self.input: dict[int, int] = {} if input is None else input
        # device -> IR 60..119
        self.batteries: dict[int, dict[int, int]] = {} if batteries is None else batteries
        self.inverter_serial = inverter_serial
        self.failures: dict[str, str] = {} if failures is None else failures  # label -> reason
        self.banks_read: list[str] = [] if banks_read is None else banks_read
        # battery address -> why its probe failed by a transport fault (not silence): whether
        # a battery is there is unknown, so it must not be remembered as absent
        self.uncertain: dict[int, str] = {} if uncertain is None else uncertain


def read_banks(
    dongle: DongleClient,
    banks: tuple[Bank, ...],
    batteries: tuple[int, ...] = (),
    probes: tuple[int, ...] = (),
    probe_timeout: float = 0.5,
) -> RegisterSnapshot:
    """Read each bank once; a missing battery page or optional bank is recorded, not fatal
    (the caller decides).

    A required bank (any of ``banks`` not in OPTIONAL_BANKS) that fails raises at once: the
    run has no valid answer without it, and a dongle that stopped answering would otherwise
    cost a full timeout-and-retries per remaining bank and battery page (issue 10).
    ``batteries`` are addresses known to hold a battery (normal timeout and retries);
    ``probes`` are addresses that may be empty, asked with a short timeout. An absent battery
    never answers (or, at 0x32 on some models, answers with an error frame): that ends the
    probing (batteries are contiguous). A probe broken by a transport fault (garbled or
    cut-off answer, dropped connection) is retried; if it still fails, it is recorded in
    ``snapshot.uncertain`` and probing goes on. After a known battery has failed through its
    retries, the others are asked as probes, so a dongle that stopped answering costs one full
    timeout there, not one per battery.
    """
    snapshot = RegisterSnapshot()
    for bank in dict.fromkeys(banks):  # de-duplicated, order kept
        failure = _read_into(dongle, bank, snapshot)
        if failure is not None and bank not in OPTIONAL_BANKS:
            raise failure
    known_silent = False
    for device in dict.fromkeys(batteries + probes):
        probing = known_silent or (device in probes and device not in batteries)
        failure = _read_into(
            dongle,
            Bank(device, Function.READ_INPUT, 60),
            snapshot,
            timeout=probe_timeout if probing else None,
            retries=PROBE_RETRIES if probing else None,
            retry_silence=not probing,
        )
        if isinstance(failure, AnswerLost):
            snapshot.uncertain[device] = str(failure)
        elif failure is not None:  # plain silence or an error frame: no battery there
            if probing and device not in batteries:
                break
            known_silent = True
    return snapshot


def _read_into(
    dongle: DongleClient,
    bank: Bank,
    snapshot: RegisterSnapshot,
    timeout: float | None = None,
    retries: int | None = None,
    retry_silence: bool = True,
) -> TransportError | None:
    """Read ``bank`` into ``snapshot``; the error if it could not be read (also recorded)."""
    try:
        page = dongle.read(
            bank.device,
            bank.function,
            bank.base,
            bank.count,
            timeout=timeout,
            retries=retries,
            retry_silence=retry_silence,
        )
    except (InverterTimeout, InverterRefused) as exc:
        snapshot.failures[bank.label] = str(exc)
        log.info("%s not read: %s", bank.label, exc)
        return exc
    snapshot.banks_read.append(bank.label)
    if bank.device >= FIRST_BATTERY_ADDRESS and bank.function == Function.READ_INPUT:
        snapshot.batteries[bank.device] = page.registers()
        return None
    target = snapshot.holding if bank.function == Function.READ_HOLDING else snapshot.input
    target.update(page.registers())
    snapshot.inverter_serial = snapshot.inverter_serial or page.inverter_serial
    return None


def read_again(dongle: DongleClient, banks: list[Bank], snapshot: RegisterSnapshot) -> None:
    """Re-read ``banks`` into ``snapshot``, replacing their values (used when a bank came back
    with implausible values: glitching dongles substitute whole blocks).

    A required inverter bank that fails here raises, as in read_banks: the dongle has stopped
    answering, and waiting out more reads would only delay the inevitable exit 1.
    """
    for bank in banks:
        snapshot.failures.pop(bank.label, None)
        failure = _read_into(dongle, bank, snapshot)
        required = bank.device == INVERTER_ADDRESS and bank not in OPTIONAL_BANKS
        if failure is not None and required:
            raise failure


def bank_of(name: str) -> Bank | None:
    """The inverter bank holding register ``name`` (None for names not in those tables)."""
    # Imported here, not at the top: read.py imports this module before it sends its first
    # request, and building the register tables (~4 ms) can wait until that request is out.
    from .registers import Bank as RegisterBank
    from .registers import bank_base, by_name

    for table_bank, function in (
        (RegisterBank.INPUT, Function.READ_INPUT),
        (RegisterBank.HOLDING, Function.READ_HOLDING),
    ):
        try:
            register = by_name(table_bank, name)
        except KeyError:
            continue
        first = register.addresses[0]
        return Bank(INVERTER_ADDRESS, function, bank_base(first))
    return None
