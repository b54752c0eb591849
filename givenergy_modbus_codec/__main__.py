"""Command-line view of the codec, for people debugging a dongle and for tests outside Python.

    python -m givenergy_modbus_codec decode HEX [HEX ...]
    python -m givenergy_modbus_codec request read-holding BASE COUNT [--device 0x11]
    python -m givenergy_modbus_codec request write REGISTER VALUE [--device 0x11]
    python -m givenergy_modbus_codec registers
    python -m givenergy_modbus_codec capture --out FILE [--seconds N] [--host IP] [--port 8899]

Only the standard library and the codec are imported (no pymodbus): it starts quickly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .errors import CodecError, GivTCPError
from .frames import (
    BadFrame,
    CrcForm,
    ErrorResponse,
    Frame,
    Function,
    Heartbeat,
    LanBroadcast,
    NullFrame,
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
)
from .stream import StreamDecoder

EXIT_USAGE = 2  # README "Exit codes": bad usage, nothing was sent
HEX_SEPARATORS = frozenset(" \t\r\n:|")  # '|' as in protocol.md's annotated examples
READ_KINDS = {
    "read-holding": Function.READ_HOLDING,
    "read-input": Function.READ_INPUT,
    "read-meter": Function.READ_METER,
}
_CRC_CARRIERS = ReadRequest | WriteRequest | ReadResponse | WriteResponse | ErrorResponse

DECODE_HELP = """\
Decode GivEnergy frames from hex. Each HEX may hold several frames, garbage or a cut-off frame;
spaces, colons and '|' inside it are ignored. '-' reads one HEX per line from standard input
(blank lines are skipped).

One JSON object per frame found, in order, with these keys:
  input            index of the HEX argument (or stdin line) the frame came from
  kind             read_request, write_request, read_response, write_response, error_response,
                   heartbeat, null, lan_broadcast or bad
  adapter_serial   the data adapter (dongle) serial in the frame
  device           device address, e.g. "0x11" (inverter), "0x32" (first battery)
  function         function code, e.g. "0x04"; an error response gives the refused function
  error            true for an error response (function | 0x80)
  inverter_serial  the inverter serial in a response
  base, count      first register and register count; a write gives its register and count 1
  values           register values (a write: the value written or read back)
  crc_ok           true if the CRC checks, false if it fails, null for kinds without a CRC
  crc_form         standard, legacy (old clients' request CRC), none or bad
A bad frame also has "reason", "raw" (its bytes in hex) and, if it would have decoded but for
its CRC, "suspect_kind" with the fields it would have had. Bad frames are output, not errors.

Exit code 0, or 2 if some input is not hex: a HEX argument that is not hex stops the command
before anything is printed; a stdin line that is not hex is reported on stderr with its line
number ("stdin line 3 skipped: ...") and skipped, every other line is still decoded (its
"input" index counts the skipped line, so the indexes match the input)."""


def parse_int(text: str) -> int:
    """A decimal or 0x-prefixed hexadecimal number (register numbers are given both ways)."""
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a decimal or 0x-hex number: {text!r}") from None


def parse_hex(text: str) -> bytes:
    """Bytes from hex written with or without separators."""
    digits = "".join(ch for ch in text if ch not in HEX_SEPARATORS)
    try:
        return bytes.fromhex(digits)
    except ValueError:
        shown = text if len(text) <= 80 else f"{text[:80]}..."
        raise ValueError(f"not hex bytes: {shown!r}") from None


def describe(frame: Frame) -> dict[str, Any]:
    """The JSON object printed for one frame: the same keys for every kind, null where a kind
    has no such field, plus a few kind-specific ones."""
    out: dict[str, Any] = dict.fromkeys(
        (
            "kind",
            "adapter_serial",
            "device",
            "function",
            "error",
            "inverter_serial",
            "base",
            "count",
            "values",
            "crc_ok",
            "crc_form",
        )
    )
    out["kind"] = frame.kind
    shown = frame
    if isinstance(frame, BadFrame):
        out |= {"reason": frame.reason, "raw": frame.raw.hex()}
        if frame.suspect is not None:
            out["suspect_kind"] = frame.suspect.kind
            shown = frame.suspect
    out |= _fields(shown)
    form = _crc_form(frame)
    out["crc_form"] = form.value
    if isinstance(frame, BadFrame):
        out["crc_ok"] = False
    else:
        out["crc_ok"] = None if form is CrcForm.NONE else True
    return out


def _fields(frame: Frame) -> dict[str, Any]:
    if isinstance(frame, Heartbeat):
        return {
            "adapter_serial": frame.adapter_serial,
            "adapter_type": frame.adapter_type,
            "unit_id": frame.unit_id,
        }
    if isinstance(frame, NullFrame):
        return {
            "adapter_serial": frame.adapter_serial,
            "device": _hex8(frame.device),
            "function": _hex8(Function.NULL),
        }
    if isinstance(frame, LanBroadcast):
        return {"adapter_serial": frame.adapter_serial, "text": frame.text}
    if isinstance(frame, BadFrame):  # garbage: no fields to show
        return {}
    out: dict[str, Any] = {
        "adapter_serial": frame.adapter_serial,
        "device": _hex8(frame.device),
        "function": _hex8(frame.function),
        "error": isinstance(frame, ErrorResponse),
    }
    if isinstance(frame, ReadRequest | WriteRequest):
        out |= {"unit_id": frame.unit_id, "header_length_ok": frame.header_length_ok}
    if isinstance(frame, ReadResponse | WriteResponse | ErrorResponse):
        out["inverter_serial"] = frame.inverter_serial
    if isinstance(frame, ReadRequest | ErrorResponse):
        out |= {"base": frame.base, "count": frame.count}
    elif isinstance(frame, ReadResponse):
        out |= {"base": frame.base, "count": frame.count, "values": list(frame.values)}
    elif isinstance(frame, WriteRequest | WriteResponse):
        out |= {"base": frame.register, "count": 1, "values": [frame.value]}
    return out


def _crc_form(frame: Frame) -> CrcForm:
    """Decoded responses passed their CRC check; bad frames failed it only if they would
    otherwise have decoded as a CRC-carrying kind."""
    if isinstance(frame, BadFrame):
        return CrcForm.BAD if isinstance(frame.suspect, _CRC_CARRIERS) else CrcForm.NONE
    if isinstance(frame, ReadRequest | WriteRequest):
        return frame.crc_form
    if isinstance(frame, ReadResponse | WriteResponse | ErrorResponse):
        return CrcForm.STANDARD
    return CrcForm.NONE


def _hex8(value: int) -> str:
    return f"0x{value:02x}"


def decode_all(data: bytes) -> list[Frame]:
    """Every frame in ``data``; a cut-off frame at the end is reported as bad."""
    decoder = StreamDecoder(lenient_requests=True)  # also show GivTCP v1.0's 0x1b requests
    frames = decoder.feed(data)
    while decoder.pending:
        dropped = decoder.resync()
        if dropped is not None:
            frames.append(dropped)
        frames += decoder.feed(b"")
    return frames


def _cmd_decode(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Arguments are checked before anything is printed (a bad one is a usage error); stdin
    lines are data: a bad line is reported with its line number and the others still decode."""
    inputs: list[bytes | None] = []  # None: a stdin line that is not hex (already reported)
    bad_lines = 0
    for text in args.hex:
        if text != "-":
            try:
                inputs.append(parse_hex(text))
            except ValueError as exc:
                parser.error(str(exc))
            continue
        for number, line in enumerate(sys.stdin.read().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                inputs.append(parse_hex(line))
            except ValueError as exc:
                print(f"{parser.prog}: stdin line {number} skipped: {exc}", file=sys.stderr)
                inputs.append(None)
                bad_lines += 1
    for index, data in enumerate(inputs):
        for frame in [] if data is None else decode_all(data):
            print(json.dumps({"input": index, **describe(frame)}))
    return EXIT_USAGE if bad_lines else 0


def _cmd_request(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    frame: ReadRequest | WriteRequest
    if args.kind == "write":
        frame = WriteRequest(args.device, args.register, args.value)
    else:
        frame = ReadRequest(args.device, READ_KINDS[args.kind], args.base, args.count)
    try:
        print(frame.encode().hex())
    except CodecError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _cmd_registers(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .registers import render_markdown  # the register tables are not needed elsewhere here

    sys.stdout.write(render_markdown())
    return 0


EXIT_UNREACHABLE = 1  # README "Exit codes": inverter unreachable
CAPTURE_HELP = """\
Record what the dongle sends while read.py (or anything else) polls it, for a bug report.
The dongle copies every answer to every connected client, so this connects as one more
client and writes each frame it sees as one line, '[TIMESTAMP] rx|tx HEX'
(givenergy-capture/1; rx = from the dongle, tx = to it: heartbeat replies, proxied
requests). Serials are redacted (the last three characters of every serial become 000,
also inside register values; CRCs recomputed), so the file can be shared and replayed:

  python3 -m givenergy_modbus_codec capture --out plant.log --seconds 120 &
  python3 read.py runAll
  python3 -m givenergy_modbus_codec.simulator --replay plant.log

The dongle does not copy other clients' requests; to record them too, --listen PORT makes
this a pass-through proxy on 127.0.0.1:PORT (0: a free port, printed as 'listening HOST
PORT'): point read.py at it (INVERTOR_IP=127.0.0.1 INVERTOR_PORT=PORT) and its requests are
recorded and passed on to the dongle, the dongle's answers passed back. The dongle is
INVERTOR_IP / INVERTOR_PORT from settings.py or the environment unless --host/--port say.
Ctrl-C stops early and keeps what was recorded. Exit codes: 0 recorded, 1 the dongle cannot
be reached, 2 bad usage or settings."""


def _cmd_capture(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pathlib import Path

    from .capture import proxy_listener, record_to_file

    host, port = args.host, args.port
    if host is None:
        try:  # the GivTCP settings, as read.py reads them (absent if the codec is used alone)
            from givtcp.config import load_settings
        except ImportError:
            parser.error("give --host: the GivTCP settings are not available here")
        try:
            settings = load_settings()
            settings.require_inverter()
        except GivTCPError as exc:
            parser.error(f"{exc} (or give --host)")
        host = settings.invertor_ip
        port = settings.invertor_port if port is None else port
    port = 8899 if port is None else port
    listener = None
    if args.listen is not None:
        try:
            listener = proxy_listener(args.listen)
        except OSError as exc:
            parser.error(f"cannot listen on 127.0.0.1:{args.listen}: {exc.strerror or exc}")
        print(f"listening 127.0.0.1 {listener.getsockname()[1]}", flush=True)
    try:
        summary = record_to_file(host, port, Path(args.out), args.seconds, listener)
    except OSError as exc:
        print(f"cannot record {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        if listener is not None:
            listener.close()
    how = (
        "interrupted"
        if summary.interrupted
        else "closed by the dongle"
        if summary.closed_by_dongle
        else "done"
    )
    print(
        f"{how}: {summary.frames} frames ({summary.answers} register answers) in "
        f"{summary.seconds:.0f} s written to {args.out}, serials redacted",
        file=sys.stderr,
    )
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("seconds must be more than 0 and at most 86400")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m givenergy_modbus_codec",
        description="Decode and build GivEnergy dongle frames (TCP port 8899), print the "
        "register map, and record a dongle's traffic (capture). Only capture connects "
        "anywhere; nothing is ever sent to the inverter but heartbeat replies.",
        epilog="Exit codes: 0 success, 1 (capture) the dongle cannot be reached, 2 bad usage "
        "or a request the dongle would refuse.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    decode = commands.add_parser(
        "decode",
        help="decode frames from hex into JSON lines",
        description=DECODE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    decode.add_argument("hex", nargs="+", metavar="HEX", help="frame bytes in hex, or '-'")
    decode.set_defaults(run=_cmd_decode)

    request = commands.add_parser(
        "request",
        help="print a 34-byte request frame in hex",
        description="Print the request frame a client sends, in hex. Numbers are decimal or "
        "0x-hex. Reads ask for 1..60 registers (the dongle refuses more); banks start at "
        "multiples of 60. The adapter serial is the usual placeholder (AB1234G567).",
    )
    kinds = request.add_subparsers(dest="kind", required=True, metavar="KIND")
    device_help = "device address: 0x11 inverter (default), 0x32..0x37 batteries, 0x01.. meters"
    for name, function in READ_KINDS.items():
        read = kinds.add_parser(name, help=f"read registers (function {function:#04x})")
        read.add_argument("base", type=parse_int, metavar="BASE", help="first register")
        read.add_argument("count", type=parse_int, metavar="COUNT", help="registers, 1..60")
        read.add_argument("--device", type=parse_int, default=0x11, help=device_help)
    write = kinds.add_parser("write", help="write one holding register (function 0x06)")
    write.add_argument("register", type=parse_int, metavar="REGISTER", help="holding register")
    write.add_argument("value", type=parse_int, metavar="VALUE", help="raw value, 0..65535")
    write.add_argument("--device", type=parse_int, default=0x11, help=device_help)
    request.set_defaults(run=_cmd_request)

    registers = commands.add_parser(
        "registers", help="print the register map as Markdown (name, encoding, scale, bounds)"
    )
    registers.set_defaults(run=_cmd_registers)

    capture = commands.add_parser(
        "capture",
        help="record the dongle's frames into a file that --replay serves (serials redacted)",
        description=CAPTURE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    capture.add_argument("--out", required=True, metavar="FILE", help="capture file to write")
    capture.add_argument(
        "--seconds",
        type=_seconds,
        default=300.0,
        help="stop after this long (default %(default)g; at most a day)",
    )
    capture.add_argument("--host", help="dongle address (default: INVERTOR_IP of the settings)")
    capture.add_argument(
        "--port", type=int, help="dongle port (default: INVERTOR_PORT of the settings, or 8899)"
    )
    capture.add_argument(
        "--listen",
        type=int,
        metavar="PORT",
        help="also be a pass-through proxy on 127.0.0.1:PORT, recording its clients' "
        "requests (0: any free port, printed as 'listening HOST PORT')",
    )
    capture.set_defaults(run=_cmd_capture)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args, parser)


if __name__ == "__main__":
    sys.exit(main())
