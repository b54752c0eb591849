"""Command line: ``python3 -m givenergy_modbus_codec.simulator [options]``.

Prints ``listening HOST PORT`` as the first line on stdout (and ``control HOST PORT`` when
the control endpoint is on), then serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import signal
import sys
import threading

from ..capturelog import CaptureFileError
from .faults import Faults
from .models import MAX_BATTERIES, MODELS
from .runner import Simulator, SimulatorConfig

DESCRIPTION = """\
Simulate a GivEnergy WiFi dongle (TCP port 8899) with a single-phase inverter and LV
batteries behind it, speaking the dongle's framed Modbus exactly like the real thing:
reads (function 03/04) and writes (06) at 0x11 (and 0x31/0x32 on Gen1 and AC models),
battery pages IR 60-119 at 0x32.., error frames and silence where real inverters give
them, every answer copied to every connected client, and a heartbeat every 180 s.

The numbers come from a plant model (PV following the time of day, house load, battery
state of charge, grid as the balance, energy counters) driven by the holding registers,
so writing e.g. a charge slot changes what the battery does: HR27 battery mode (1 eco,
0 export), HR59 + HR56/57, HR44/45 timed discharge, HR96 + HR94/95, HR31/32 timed charge
(up to HR116 when HR20 = 1), HR110 reserve, HR111/HR112 charge/discharge rate (0 pauses),
HR318-320 pause (AC model); HR35-40 set the clock. Point a client at it:

  python3 -m givenergy_modbus_codec.simulator --port 8899 -v
  INVERTOR_IP=127.0.0.1 python3 read.py runAll

--replay FILE serves a captured plant instead: the registers seen in a capture
(givenergy-vectors/1 JSON, or a givenergy-capture/1 log as written by
'python3 -m givenergy_modbus_codec capture'), at the addresses and with the serials the
capture answered with; addresses the capture never heard from are silent, other reads it
cannot answer get an error frame. Writes change the in-memory registers.
"""

EPILOG = """\
Fault options make it misbehave the way real dongles do; they can also be changed while
it runs, through the control endpoint (here started with --control-port 8900):

  curl -s localhost:8900/truth
  curl -s -X POST localhost:8900/faults -d '{"crc_error_rate": 0.2}'
  curl -s -X POST localhost:8900/clock/advance -d '{"seconds": 3600}'

Routes: GET /truth, GET /requests?since=N, GET|POST /faults, POST /clock/advance,
POST /heartbeat.
"""


def _start_time(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text)
    return when.astimezone().replace(tzinfo=None) if when.tzinfo else when


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("a rate is a probability from 0 to 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m givenergy_modbus_codec.simulator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = p.add_argument_group("network")
    net.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    net.add_argument(
        "--port",
        type=int,
        default=8899,
        help="TCP port (default %(default)s, the dongle's); 0 picks a free one. The port is "
        "printed as the first stdout line: 'listening HOST PORT'",
    )
    net.add_argument(
        "--control-port",
        type=int,
        metavar="PORT",
        help="also serve the HTTP/JSON control endpoint on this port (0: any free port; "
        "printed as 'control HOST PORT'); off by default",
    )
    replay = p.add_argument_group("replay (instead of the plant model)")
    replay.add_argument(
        "--replay",
        metavar="FILE",
        help="serve the registers seen in this capture file (a givenergy-vectors/1 JSON or "
        "a givenergy-capture/1 log): the last value seen of each register, per device "
        "address and function; silence at addresses that never answered, an error frame "
        "for reads the capture cannot answer (silence where the capture itself got none); "
        "writes to registers the capture saw are applied in memory and read back. The "
        "plant options below are then unused",
    )
    replay.add_argument(
        "--replay-step",
        action="store_true",
        help="with --replay: start from the first value seen of each register and apply "
        "the capture's frames as the clock (--speed) passes their timestamps",
    )
    plant = p.add_argument_group("plant")
    plant.add_argument(
        "--model",
        choices=list(MODELS),
        default="hybrid",
        help="; ".join(f"{m.name}: {m.summary}" for m in MODELS.values())
        + " (default %(default)s)",
    )
    plant.add_argument(
        "--batteries",
        type=int,
        choices=range(MAX_BATTERIES + 1),
        default=1,
        metavar=f"0..{MAX_BATTERIES}",
        help="LV batteries, answering at 0x32.. (default %(default)s)",
    )
    plant.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for serials, weather, load and fault choices: "
        "the same seed gives the same run (default %(default)s)",
    )
    plant.add_argument(
        "--speed",
        type=_non_negative,
        default=1.0,
        help="plant clock speed: 1 = real time, 60 = a minute per second, 0 = frozen "
        "(default %(default)s)",
    )
    plant.add_argument(
        "--start-time",
        type=_start_time,
        metavar="ISO",
        help="plant clock start, e.g. 2024-06-21T23:55:00 (local time; default now)",
    )
    proto = p.add_argument_group("protocol")
    proto.add_argument(
        "--heartbeat",
        type=_non_negative,
        default=180.0,
        metavar="SECONDS",
        help="send each client a heartbeat request this often (default %(default)s; 0 = never)",
    )
    proto.add_argument(
        "--strict",
        action="store_true",
        help="All-in-One-like: silently drop requests with the legacy CRC or the 0x1b header "
        "length (default: lenient, accepted as hybrid/AC firmware does)",
    )
    f = p.add_argument_group("faults (all off by default)")
    f.add_argument(
        "--latency",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="delay before every answer (a real Gen1 answers in ~0.25 s)",
    )
    f.add_argument(
        "--jitter",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="plus a random 0..SECONDS delay",
    )
    f.add_argument(
        "--stall-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="fraction of answers delayed by a further --stall-seconds",
    )
    f.add_argument(
        "--stall-seconds",
        type=_non_negative,
        default=3.0,
        metavar="SECONDS",
        help="length of a stall (default %(default)s)",
    )
    f.add_argument(
        "--close-after-frames",
        type=_count,
        default=0,
        metavar="N",
        help="close each connection after sending it N frames",
    )
    f.add_argument(
        "--close-mid-frame",
        action="store_true",
        help="with --close-after-frames: cut the last frame in half before closing",
    )
    f.add_argument(
        "--chunk-size",
        type=_count,
        default=0,
        metavar="BYTES",
        help="send frames in TCP pieces of this many bytes",
    )
    f.add_argument(
        "--chunk-delay",
        type=_non_negative,
        default=0.005,
        metavar="SECONDS",
        help="pause between pieces (default %(default)s)",
    )
    f.add_argument(
        "--garbage-bytes",
        type=_count,
        default=0,
        metavar="N",
        help="send N random bytes before every frame",
    )
    f.add_argument(
        "--crc-error-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="fraction of answers sent with a corrupted CRC",
    )
    f.add_argument(
        "--phantom-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="fraction of answers preceded by an answer to a request nobody on the "
        "link made (e.g. the cloud's IR(0,60) with slightly different values)",
    )
    f.add_argument(
        "--null-frame-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="fraction of answers preceded by an all-zero null frame",
    )
    f.add_argument(
        "--lan-broadcast-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="fraction of answers preceded by a LAN-config broadcast",
    )
    f.add_argument(
        "--zero-battery-page-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="fraction of battery pages answered with all zeros (valid CRC)",
    )
    f.add_argument(
        "--garbage-values-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="fraction of IR answers with absurd values and a valid CRC: 65535 W PV, "
        "lifetime totals +2200 kWh, SOC 255, battery 205.8 C ('Pattern A')",
    )
    f.add_argument(
        "--garbled-serial-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="fraction of HR answers covering HR13-17 with a garbled inverter serial (valid CRC)",
    )
    f.add_argument(
        "--silent", action="store_true", help="accept connections and requests but never answer"
    )
    f.add_argument(
        "--silent-after-answers",
        type=_count,
        default=0,
        metavar="N",
        help="answer the first N requests (counted from start, all clients), then go silent "
        "as --silent does: a dongle that dies mid-read",
    )
    f.add_argument(
        "--drop-writes",
        action="store_true",
        help="ignore write requests: not applied, not answered (as some AC models do)",
    )
    f.add_argument(
        "--readback-mismatch",
        action="store_true",
        help="echo writes as asked but do not apply them, so the read-back differs",
    )
    f.add_argument(
        "--echo-mismatch",
        action="store_true",
        help="apply writes but echo them with another value (the stored one plus 1)",
    )
    f.add_argument(
        "--silent-after-writes",
        type=int,
        default=0,
        metavar="N",
        help="answer N writes, then fall silent (a dongle dropping off mid-way); 0 = off",
    )
    log = p.add_argument_group("logging")
    log.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: one line per request on stderr; -vv: debug",
    )
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The SimulatorConfig an argument namespace describes."""
    faults = Faults(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Faults)})
    return SimulatorConfig(
        seed=args.seed,
        model=args.model,
        batteries=args.batteries,
        speed=args.speed,
        heartbeat=args.heartbeat,
        strict=args.strict,
        start_time=args.start_time,
        host=args.host,
        port=args.port,
        control_port=args.control_port,
        faults=faults,
        replay=args.replay,
        replay_step=args.replay_step,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.replay_step and args.replay is None:
        parser.error("--replay-step needs --replay FILE")
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(message)s")
    try:
        sim = Simulator(config_from_args(args))
    except CaptureFileError as exc:
        print(f"cannot replay: {exc}", file=sys.stderr)
        return 2
    try:
        port = sim.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"listening {args.host} {port}", flush=True)
    if sim.control_port is not None:
        print(f"control {args.host} {sim.control_port}", flush=True)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    done.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
