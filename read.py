#!/usr/bin/env python3
"""GivTCP read: read the inverter once and send the result to every enabled output.

    python3 read.py {getTimeslots|getCombinedStats|getModesandTimes|runAll} [-v]

JSON goes to stdout (one object), logs and errors to stderr. Exit codes: see givtcp/exit_codes.py.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys

# Cron starts read.py afresh every time, and its imports build ~100 modules' worth of objects,
# none of them garbage: the cyclic collector would scan them over and over while they load and
# once more at exit (~7 ms of a ~70 ms run). So it is off during the imports, and what they
# built is frozen (gc.freeze: never scanned again); it is back on for the read itself.
gc.disable()

from typing import TYPE_CHECKING  # noqa: E402

from givenergy_modbus_codec import reader  # noqa: E402
from givenergy_modbus_codec.errors import SettingsError, TransportError  # noqa: E402
from givenergy_modbus_codec.transport import DongleClient  # noqa: E402
from givtcp import exit_codes  # noqa: E402
from givtcp.config import load_settings  # noqa: E402
from givtcp.logs import emit, setup_logging  # noqa: E402

gc.freeze()
gc.enable()

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from types import ModuleType

_VERBOSE = ("-v", "--verbose")
log = logging.getLogger("givtcp.read")


@contextlib.contextmanager
def _loading() -> Iterator[None]:
    """Imports made inside run like the ones above: no cyclic GC while they load, then frozen."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _load_application() -> tuple[ModuleType, ModuleType]:
    """givtcp.reading (with the decoder, checks and report it imports, ~25 ms) and
    givtcp.publishing."""
    with _loading():
        from givtcp import publishing, reading
    return reading, publishing


def _parser() -> argparse.ArgumentParser:
    import argparse  # only for --help and usage errors: ~10 ms of every cron call otherwise

    reading, _ = _load_application()
    functions = "\n".join(f"  {name:<18} {text}" for name, text in reading.READ_FUNCTIONS.items())
    parser = argparse.ArgumentParser(
        prog="read.py",
        description="Read a GivEnergy inverter through its dongle and publish the values.",
        epilog=f"functions:\n{functions}\n  runALL             same as runAll\n\n"
        "exit codes: 0 ok, 1 inverter unreachable or no valid answer, 2 bad usage or setting,\n"
        "3 data read but an output failed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("function", help="one of the functions below")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    return parser


def _fail(code: int, message: str) -> int:
    import json  # not needed before the first request goes out (see main)

    emit(json.dumps({"error": message}))
    return code


def _parse_args(argv: list[str]) -> tuple[str, bool]:
    """(function, verbose). The usual ``FUNCTION [-v|--verbose]`` is parsed by hand; anything
    else (--help, usage errors, abbreviations, "--") goes to argparse, which answers as it
    always did (help: exit 0; usage error: exit 2)."""
    positional = [arg for arg in argv if arg not in _VERBOSE]
    if len(positional) == 1 and not positional[0].startswith("-"):
        return positional[0], len(positional) < len(argv)
    args = _parser().parse_args(argv)
    return args.function, args.verbose


def main(argv: list[str]) -> int:
    name, verbose = _parse_args(argv)
    function = reader.canonical_function(name)
    if function is None:
        valid = ", ".join([*reader.READ_FUNCTION_BANKS, *reader.READ_ALIASES])
        return _fail(exit_codes.USAGE, f"unknown function {name!r}; valid: {valid}")
    try:
        settings = load_settings()
        settings.require_inverter()
        settings.check_state_folder()
    except SettingsError as exc:
        return _fail(exit_codes.USAGE, str(exc))
    setup_logging(
        verbose,
        settings.debug_file_location if settings.debug else None,
        settings.secrets(),
    )
    on = [flag[: -len("_output")] for flag in settings._fields if flag.endswith("_output")]
    log.debug(
        "%s from %s:%s; state in %s; outputs: %s",
        function,
        settings.invertor_ip,
        settings.invertor_port,
        settings.state_folder,
        ", ".join(name for name in on if getattr(settings, f"{name}_output")) or "none",
    )
    try:
        transport = settings.transport_config()
    except SettingsError as exc:
        return _fail(exit_codes.USAGE, str(exc))
    try:
        with DongleClient(transport) as dongle:
            # The first bank goes out before the rest of GivTCP and the enabled outputs (with
            # their libraries) load: at a real dongle's latency those imports then cost no
            # wall time (benchmarks/README.md, "Overlap").
            dongle.send_ahead(reader.READ_FUNCTION_BANKS[function][0].request())
            reading, publishing = _load_application()
            with _loading():
                outputs = publishing.prepare_outputs(settings)
            result = reading.read_inverter(function, settings, dongle)
            from givtcp import write_state  # a dead write's plan is noted while the lock is held

            write_state.note_interrupted(result.groups, settings, reading.report.GROUP_QUALITY)
    except TransportError as exc:
        reading, publishing = _load_application()
        for failure in publishing.mark_offline(settings):
            emit(failure)
        return _fail(exit_codes.INVERTER, reading.unreachable_message(exc))
    failures = publishing.publish(result, settings, outputs)
    for failure in failures:
        emit(failure)
    return exit_codes.OUTPUT if failures else exit_codes.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
