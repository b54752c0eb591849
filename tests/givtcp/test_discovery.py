"""Discovery against simulators and look-alikes on loopback addresses of 127.0.0.0/29 only.

127.0.0.1 nothing, .2 simulator, .3 endless garbage, .4 a CRC-broken and a mismatched answer,
.5 simulator, .6 accepts and stays silent: only .2 and .5 are dongles.
"""

from __future__ import annotations

import socketserver
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from threading import Thread

import pytest

from givenergy_modbus_codec.frames import Function, ReadResponse
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp import discovery
from tests.conftest import PROJECT_ROOT

SUBNET = "127.0.0.0/29"
TIMEOUT = 0.5
# Every host is probed at once; the slowest (silent) one costs one connect plus one wait.
BOUND = 2 * TIMEOUT + 1.5


def _garbage(handler: socketserver.BaseRequestHandler) -> None:
    handler.request.recv(64)
    try:
        while True:
            handler.request.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" + bytes(range(256)))
            time.sleep(0.01)
    except OSError:
        pass  # the prober hung up


def _near_misses(handler: socketserver.BaseRequestHandler) -> None:
    """Frames in the dongle's format that do not answer the probe."""
    handler.request.recv(64)
    wrong_bank = ReadResponse(0x11, Function.READ_INPUT, "SA0000G000", 0, (0,) * 60, "WF0000G000")
    right = ReadResponse(0x11, Function.READ_HOLDING, "SA0000G000", 0, (0,) * 60, "WF0000G000")
    broken = bytearray(right.encode())
    broken[-1] ^= 0xFF  # CRC no longer matches
    handler.request.sendall(wrong_bank.encode() + bytes(broken))
    time.sleep(2 * TIMEOUT)


def _silent(handler: socketserver.BaseRequestHandler) -> None:
    handler.request.recv(64)
    time.sleep(3 * TIMEOUT)


def _serve(host: str, port: int, behaviour: Callable[[socketserver.BaseRequestHandler], None]):
    handler = type("Handler", (socketserver.BaseRequestHandler,), {"handle": behaviour})
    server = socketserver.ThreadingTCPServer((host, port), handler, bind_and_activate=False)
    server.daemon_threads = True
    server.allow_reuse_address = True
    server.server_bind()
    server.server_activate()
    Thread(target=server.serve_forever, daemon=True).start()
    return server


def _simulator(seed: int) -> Simulator:
    return Simulator(SimulatorConfig(seed=seed, speed=0.0, heartbeat=0))


@pytest.fixture(scope="module")
def lan() -> Iterator[tuple[int, list[Simulator]]]:
    """Everything listening on one port number across the /29; retried if a port is taken."""
    for _attempt in range(5):
        with ExitStack() as stack:
            first = _simulator(1)
            port = first.start(host="127.0.0.2", port=0)
            stack.callback(first.stop)
            try:
                second = _simulator(2)
                second.start(host="127.0.0.5", port=port)
                stack.callback(second.stop)
                for host, behaviour in (
                    ("127.0.0.3", _garbage),
                    ("127.0.0.4", _near_misses),
                    ("127.0.0.6", _silent),
                ):
                    server = _serve(host, port, behaviour)
                    stack.callback(server.server_close)
                    stack.callback(server.shutdown)
            except OSError:
                continue  # the port is taken on one of the addresses: try another
            yield port, [first, second]
            return
    pytest.fail("no port free on every loopback address of the /29")


def test_finds_exactly_the_simulators_within_the_time_bound(lan):
    port, _ = lan
    started = time.monotonic()
    assert discovery.discover(SUBNET, port=port, timeout=TIMEOUT) == ["127.0.0.2", "127.0.0.5"]
    assert time.monotonic() - started < BOUND


def test_serial_workers_still_find_both_in_order(lan):
    port, _ = lan
    assert discovery.discover(SUBNET, port=port, timeout=TIMEOUT, workers=1) == [
        "127.0.0.2",
        "127.0.0.5",
    ]


def test_probe_returns_the_inverters_answer(lan):
    port, sims = lan
    answer = discovery.probe("127.0.0.5", port, TIMEOUT)
    assert answer is not None
    assert answer.inverter_serial == sims[1].truth()["plant"]["inverter_serial"]
    assert answer.registers()[0] == sims[1].truth()["holding"][0]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.3", "127.0.0.4", "127.0.0.6"])
def test_probe_rejects_what_is_not_a_dongle_in_bounded_time(lan, host):
    port, _ = lan
    started = time.monotonic()
    assert discovery.probe(host, port, TIMEOUT) is None
    assert time.monotonic() - started < 2 * TIMEOUT + 0.5


@pytest.mark.parametrize(
    ("subnet", "message"),
    [
        ("127.0.0.0/21", "too many to probe"),
        ("127.0.0.0/8", "too many to probe"),
        ("::1/128", "not IPv4"),
        ("127.0.0.300/24", "not a subnet"),
        ("dongle", "not a subnet"),
    ],
)
def test_refuses_subnets_it_cannot_scan_before_probing(subnet, message):
    with pytest.raises(discovery.DiscoveryError, match=message):
        discovery.discover(subnet, port=1)


def test_bad_port_and_timeout_are_refused():
    with pytest.raises(discovery.DiscoveryError, match="port must be"):
        discovery.discover(SUBNET, port=70000)
    with pytest.raises(discovery.DiscoveryError, match="timeout must be"):
        discovery.discover(SUBNET, port=1, timeout=0)


def test_a_22_is_the_largest_subnet_accepted():
    hosts = discovery.subnet_hosts("127.0.4.9/22")  # a host address with its prefix is fine
    assert (hosts[0], hosts[-1], len(hosts)) == ("127.0.4.1", "127.0.7.254", 1022)


def test_default_interface_reads_the_default_route():
    table = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t0011A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "wlan0\t00000000\t0111A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    )
    assert discovery.default_interface(table) == "wlan0"
    with pytest.raises(discovery.DiscoveryError, match="no IPv4 default route"):
        discovery.default_interface(table.rsplit("\n", 2)[0])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "givtcp.discovery", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def test_cli_prints_one_address_a_line(lan):
    port, _ = lan
    run = _cli(SUBNET, "--port", str(port), "--timeout", str(TIMEOUT))
    assert (run.returncode, run.stdout) == (0, "127.0.0.2\n127.0.0.5\n")


def test_cli_exit_1_when_nothing_answers(lan):
    port, _ = lan
    run = _cli("127.0.0.8/30", "--port", str(port), "--timeout", str(TIMEOUT))
    assert run.returncode == 1
    assert run.stdout == ""
    assert f"no GivEnergy dongle answered on port {port} in 127.0.0.8/30" in run.stderr


def test_cli_exit_2_for_a_subnet_too_large():
    run = _cli("127.0.0.0/16", "--port", "1")
    assert run.returncode == 2
    assert "too many to probe" in run.stderr
