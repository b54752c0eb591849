"""Find GivEnergy dongles on a subnet: the Docker image uses it when INVERTOR_IP is empty.

Many devices listen on TCP 8899, so an open port proves nothing: each host gets a real read
request (HR 0-59 at the inverter, 0x11) and counts only if a CRC-valid read response answering
that request comes back. The subnet and port are parameters; ``local_subnet()`` works out the
host's own /24 for the container and is the only part that looks at the machine's interfaces.

    python3 -m givtcp.discovery 192.168.1.0/24 [--port 8899] [--timeout 0.5] [-v]

prints each dongle's address on its own line; exit 0 if one answered, 1 if none, 2 bad usage.
"""

from __future__ import annotations

import argparse
import fcntl
import ipaddress
import logging
import socket
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from givenergy_modbus_codec.errors import GivTCPError
from givenergy_modbus_codec.frames import (
    INVERTER_ADDRESS,
    Function,
    ReadRequest,
    ReadResponse,
    answers,
)
from givenergy_modbus_codec.stream import StreamDecoder

log = logging.getLogger(__name__)

INVERTER_DEVICE = INVERTER_ADDRESS
PROBE = ReadRequest(INVERTER_DEVICE, Function.READ_HOLDING, 0, 60)
MIN_PREFIX = 22  # a /22 (1022 hosts) takes 16-32 s with the defaults; larger is too slow
_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


class DiscoveryError(GivTCPError):
    """A subnet that cannot be scanned, or a local subnet that cannot be worked out."""


def subnet_hosts(subnet: str) -> list[str]:
    """The host addresses of ``subnet``; refuses what is not IPv4 or is larger than a /22."""
    try:
        network = ipaddress.ip_network(subnet.strip(), strict=False)
    except ValueError as exc:
        raise DiscoveryError(f"not a subnet: {subnet!r} ({exc}); e.g. 192.168.1.0/24") from None
    if network.version != 4:
        raise DiscoveryError(f"{subnet} is not IPv4: GivEnergy dongles use IPv4 addresses")
    if network.prefixlen < MIN_PREFIX:
        raise DiscoveryError(
            f"{network} has {network.num_addresses - 2} hosts, too many to probe; give a "
            f"/{MIN_PREFIX} or smaller, e.g. the /24 your inverter is on (192.168.1.0/24)"
        )
    return [str(host) for host in network.hosts()]


def probe(host: str, port: int = 8899, timeout: float = 0.5) -> ReadResponse | None:
    """Ask ``host`` for HR 0-59; its answer if it is a dongle, else None.

    ``timeout`` bounds the connection and, separately, the wait for the answer, so one host
    costs at most twice the timeout. Heartbeats and answers to other clients are skipped.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(PROBE.encode())
            decoder = StreamDecoder()
            deadline = time.monotonic() + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                sock.settimeout(remaining)
                data = sock.recv(4096)
                if not data:
                    break
                for frame in decoder.feed(data):
                    if isinstance(frame, ReadResponse) and answers(PROBE, frame):
                        return frame
    except OSError as exc:  # refused, unreachable, timed out, reset: not a dongle here
        log.debug("%s:%d: %s", host, port, exc)
        return None
    log.debug("%s:%d accepted the connection but gave no valid answer", host, port)
    return None


def discover(subnet: str, port: int = 8899, timeout: float = 0.5, workers: int = 32) -> list[str]:
    """Addresses in ``subnet`` whose port ``port`` answers like a GivEnergy dongle, in order."""
    if not 1 <= port <= 65535:
        raise DiscoveryError(f"port must be 1-65535, not {port}")
    if timeout <= 0:
        raise DiscoveryError(f"timeout must be positive, not {timeout}")
    hosts = subnet_hosts(subnet)
    log.info("probing %d hosts of %s on port %d", len(hosts), subnet, port)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        results = list(pool.map(lambda host: probe(host, port, timeout), hosts))
    found = []
    for host, answer in zip(hosts, results, strict=True):
        if answer is not None:
            log.info("%s:%d is inverter %s", host, port, answer.inverter_serial)
            found.append(host)
    return found


def default_interface(route_table: str) -> str:
    """The interface of the IPv4 default route in a /proc/net/route listing."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            return fields[0]
    raise DiscoveryError("no IPv4 default route: pass the subnet to probe explicitly")


def local_subnet() -> str:
    """The /24 around this host's address on its default-route interface (Linux).

    In a container with host networking that is the LAN the inverter is on; with Docker's
    bridge network it is Docker's own subnet, so pass the LAN's subnet instead.
    """
    try:
        interface = default_interface(Path("/proc/net/route").read_text())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = struct.pack("256s", interface[:15].encode())
            address = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)[20:24])
    except OSError as exc:
        raise DiscoveryError(
            f"cannot work out the local subnet ({exc}): pass the subnet to probe explicitly"
        ) from None
    return str(ipaddress.ip_network(f"{address}/24", strict=False))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m givtcp.discovery",
        description="Find GivEnergy inverter dongles: probe each host of a subnet with a real "
        "read request and print the addresses that answer, one per line.",
        epilog="exit codes: 0 found at least one, 1 none answered, 2 bad usage",
    )
    parser.add_argument(
        "subnet", nargs="?", help="IPv4 subnet, /22 or smaller (default: this host's /24)"
    )
    parser.add_argument("--port", type=int, default=8899, help="dongle TCP port (8899)")
    parser.add_argument(
        "--timeout", type=float, default=0.5, help="seconds to connect, and to wait for the answer"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    try:
        subnet = args.subnet or local_subnet()
        found = discover(subnet, args.port, args.timeout)
    except DiscoveryError as exc:
        print(f"discovery: {exc}", file=sys.stderr)
        return 2
    if not found:
        print(
            f"discovery: no GivEnergy dongle answered on port {args.port} in {subnet}",
            file=sys.stderr,
        )
        return 1
    print("\n".join(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
