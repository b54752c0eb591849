#!/usr/bin/env python3
"""GivTCP write: change the inverter's settings with a control function.

    python3 write.py FUNCTION ['JSON payload'] [--dry-run] [-v]
    python3 write.py setChargeSlot1 '{"start":"0100","finish":"0400","chargeToPercent":"55"}'

A bad function name, JSON or payload value exits 2 with a JSON error on stderr and sends
nothing. Every write is read back; exit 0 only when all registers read back as asked, exit 4
(with the rows done so far on stdout) when one did not or the inverter stopped answering.
"""

from __future__ import annotations

import argparse
import json
import sys

from givenergy_modbus_codec.commands import CONTROL_FUNCTIONS
from givenergy_modbus_codec.errors import (
    CodecError,
    SettingsError,
    TransportError,
    ValidationError,
)
from givtcp import exit_codes, writing
from givtcp.config import load_settings
from givtcp.logs import setup_logging
from givtcp.reading import unreachable_message
from givtcp.timed_actions import FUNCTIONS as TIMED_FUNCTIONS


def _describe_functions() -> str:
    lines = []
    for spec in (*CONTROL_FUNCTIONS.values(), *TIMED_FUNCTIONS.values()):
        example = f" '{json.dumps(dict(spec.example))}'" if spec.example else ""
        lines.append(f"  {spec.name}{example}\n      {spec.description}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="write.py",
        description="Send a control function to a GivEnergy inverter; every write is read back.",
        epilog=f"functions:\n{_describe_functions()}\n\n"
        "exit codes: 0 every register reads back as asked, 1 inverter unreachable,\n"
        "2 bad function, JSON, payload or setting (nothing sent), 4 a write did not read back\n"
        "or the inverter stopped answering midway (the rows done so far are printed)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("function", help="control function (list below)")
    parser.add_argument("payload", nargs="?", help="JSON object with the function's fields")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the planned writes without connecting"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    return parser


def _fail(code: int, body: dict) -> int:
    print(json.dumps(body), file=sys.stderr)
    return code


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        payload = writing.parse_payload(args.payload)
        planned = writing.plan_control(args.function, payload)
    except ValidationError as exc:
        return _fail(exit_codes.USAGE, exc.as_dict())
    if args.dry_run:
        if not planned:
            return _fail(
                exit_codes.USAGE,
                {
                    "error": f"{args.function} depends on what is read from the inverter "
                    "(its model, battery size or clock), so it cannot be planned offline"
                },
            )
        writes = [{"register": w.register, "name": w.name, "value": w.value} for w in planned]
        print(json.dumps({"result": f"{args.function}: dry run, nothing sent", "writes": writes}))
        return exit_codes.OK
    try:
        settings = load_settings()
        settings.require_inverter()
    except SettingsError as exc:
        return _fail(exit_codes.USAGE, {"error": str(exc)})
    setup_logging(
        args.verbose, settings.debug_file_location if settings.debug else None, settings.secrets()
    )
    try:
        report = writing.write_inverter(args.function, payload, settings)
    except ValidationError as exc:
        return _fail(exit_codes.USAGE, exc.as_dict())
    except CodecError as exc:
        return _fail(exit_codes.USAGE, {"error": str(exc)})
    except TransportError as exc:
        return _fail(exit_codes.INVERTER, {"error": unreachable_message(exc)})
    print(json.dumps(report.as_dict()))
    return exit_codes.OK if report.ok else exit_codes.WRITE_UNCONFIRMED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
