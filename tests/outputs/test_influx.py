"""InfluxDB output against VictoriaMetrics (the InfluxDB v2 write API) and a fake HTTP server for
the answers VictoriaMetrics never gives (401, 404, 400, 5xx, silence)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from givtcp.config import Settings
from outputs import OutputError, Publication
from outputs.influx import InfluxSink, Spool, create, points
from tests.scripts import run_script, sim_env

pytestmark = pytest.mark.servers

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)
INVERTER_GROUPS = (
    "Power",
    "Power/Flows",
    "Energy/Today",
    "Energy/Total",
    "Invertor Details",
    "Control",
)
TOKEN = "influx-s3cret-token"


@pytest.fixture
def start_sim() -> Iterator[Callable[[int], Simulator]]:
    """Simulators with a given seed (the seed picks the serials: one per test on a shared VM)."""
    started: list[Simulator] = []

    def start(seed: int) -> Simulator:
        sim = Simulator(SimulatorConfig(seed=seed, speed=0.0, start_time=NOON, batteries=2))
        sim.start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def influx_env(sim: Simulator, state: Path, url: str) -> dict[str, str]:
    return sim_env(
        sim.port, state, INFLUX_OUTPUT="true", INFLUX_URL=url, INFLUX_TOKEN=TOKEN, NUM_BATTERIES="2"
    )


def expected_series(out: dict[str, Any]) -> dict[tuple[str, str | None], float]:
    """(metric name, battery serial) -> value, for every number in the JSON of a run.

    VictoriaMetrics names a series <measurement>_<field>; fields are v1.0's
    key.lower().replace(" ", "_"), with "-" also as "_"; booleans are 1/0; text is not written.
    """

    def field(key: str) -> str:
        return key.lower().replace(" ", "_").replace("-", "_")

    def number(value: Any) -> bool:
        return isinstance(value, int | float)

    serial = out["Invertor Details"]["Invertor Serial Number"]
    series = {
        (f"{serial}_{field(key)}", None): float(value)
        for group in INVERTER_GROUPS
        for key, value in out[group].items()
        if number(value)
    }
    for battery, values in out["Battery Details"].items():
        series |= {
            (f"{battery}_{field(key)}", battery): float(v) for key, v in values.items() if number(v)
        }
    return series


def by_name(exported: list[dict[str, Any]]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(s["metric"]["__name__"], s["metric"].get("battery")): s for s in exported}


def spool_files(state: Path) -> list[Path]:
    return sorted(state.glob("influx-spool-*.lp"))


def line_times(lines: list[str]) -> set[int]:
    return {int(line.rsplit(" ", 1)[1]) for line in lines}


# --------------------------------------------------------------------------- end to end


def test_run_all_writes_every_value_with_the_read_time(victoria_metrics, start_sim, tmp_path):
    sim = start_sim(11)
    before = time.time()
    run = run_script("read.py", "runAll", env=influx_env(sim, tmp_path, victoria_metrics.url))
    after = time.time()
    assert run.code == 0, run.stderr
    assert TOKEN not in run.stderr
    out = run.json()
    serial = out["Invertor Details"]["Invertor Serial Number"]
    expected = expected_series(out)
    exported = victoria_metrics.export(
        f'{{serial="{serial}"}}', until=lambda s: len(s) >= len(expected)
    )
    series = by_name(exported)
    assert set(series) == set(expected)
    for name, value in expected.items():
        assert series[name]["values"] == [pytest.approx(value)], name

    # The v1.0 layout: measurement = serial, tagKey=GivReal, plus serial/group (battery) tags.
    pv = series[(f"{serial}_pv_power", None)]["metric"]
    assert pv == {"__name__": f"{serial}_pv_power", "tagKey": "GivReal", "serial": serial,
                  "group": "Power"}  # fmt: skip
    total = series[(f"{serial}_export_energy_total_kwh", None)]["metric"]
    assert total["group"] == "Energy/Total"
    assert series[(f"{serial}_solar_to_house", None)]["metric"]["group"] == "Power/Flows"
    battery = next(iter(out["Battery Details"]))
    cells = series[(f"{battery}_battery_cells_1_4_temperature", battery)]["metric"]
    assert cells["group"] == "Battery Details"
    assert cells["serial"] == serial

    # Against the simulator's registers, not only against our own JSON.
    ir = sim.truth()["input"]
    assert series[(f"{serial}_pv_power", None)]["values"] == [ir[18] + ir[20]]
    assert series[(f"{serial}_soc", None)]["values"] == [ir[59]]
    pv_total = ((ir[11] << 16) + ir[12]) / 10
    assert series[(f"{serial}_pv_energy_total_kwh", None)]["values"] == [pytest.approx(pv_total)]

    # One explicit timestamp, the read's, on every point.
    stamps = {t for s in exported for t in s["timestamps"]}
    assert len(stamps) == 1
    assert before * 1000 - 1 <= stamps.pop() <= after * 1000
    assert spool_files(tmp_path) == []


def test_layout_timestamp_and_what_is_left_out(victoria_metrics, tmp_path):
    """The exact timestamp given, v1.0 field names, booleans 1/0, no text, no Data Quality."""
    serial = f"TS{uuid.uuid4().hex[:8].upper()}"
    battery = f"BT{uuid.uuid4().hex[:8].upper()}"
    publication = Publication(
        serial=serial,
        groups={
            "Power": {"PV Power": 1234, "SOC": 55},
            "Energy/Total": {"Export Energy Total kWh": 2527.4},
            "Invertor Details": {"Invertor Serial Number": serial, "Invertor Temperature": 28.6},
            "Control": {"Mode": "unknown", "Charge Target Enabled": True, "Target SOC": 100},
            "Timeslots": {"Charge start time slot 1": "0030"},
            "Battery Details": {battery: {"Battery Serial Number": battery, "Battery SOC": 92}},
            "Data Quality": {"rejected": {"Power/Load Power": "p_load_demand: 65535 W"}},
        },
        timestamp=1609459200.123,  # 2021-01-01T00:00:00.123Z
    )
    settings = Settings(influx_url=victoria_metrics.url + "/", state_location=str(tmp_path))
    create(settings).publish(publication)
    exported = victoria_metrics.export(f'{{serial="{serial}"}}', until=lambda s: len(s) >= 7)
    got = {s["metric"]["__name__"]: (s["values"], s["timestamps"]) for s in exported}
    at = [1609459200123]
    assert got == {
        f"{serial}_pv_power": ([1234], at),
        f"{serial}_soc": ([55], at),
        f"{serial}_export_energy_total_kwh": ([2527.4], at),
        f"{serial}_invertor_temperature": ([28.6], at),
        f"{serial}_charge_target_enabled": ([1], at),
        f"{serial}_target_soc": ([100], at),
        f"{battery}_battery_soc": ([92], at),
    }


def test_server_down_spools_and_the_next_run_flushes_it(victoria_metrics_stoppable, start_sim,
                                                        tmp_path):  # fmt: skip
    vm = victoria_metrics_stoppable
    sim = start_sim(12)
    env = influx_env(sim, tmp_path, vm.url)
    vm.stop()
    down = run_script("read.py", "runAll", env=env)
    assert down.code == 3, down.stderr
    assert "InfluxDB" in down.stderr and f"INFLUX_URL {vm.url}" in down.stderr
    assert "Connection refused" in down.stderr
    first = down.json()  # the JSON output still delivered
    [spool] = spool_files(tmp_path)
    assert str(spool) in down.stderr
    spooled = spool.read_text().splitlines()
    serial = first["Invertor Details"]["Invertor Serial Number"]
    assert len(spooled) == len(INVERTER_GROUPS) + 2  # one point per group and per battery
    measurements = {line.split(",", 1)[0] for line in spooled}
    assert measurements == {serial, *first["Battery Details"]}
    [t1] = line_times(spooled)

    vm.start()
    sim.advance(300)
    up = run_script("read.py", "runAll", env=env)
    assert up.code == 0, up.stderr
    assert spool_files(tmp_path) == []
    second = up.json()
    old, new = expected_series(first), expected_series(second)
    exported = vm.export(
        f'{{serial="{serial}"}}',
        until=lambda s: len(s) >= len(new) and all(len(x["timestamps"]) == 2 for x in s),
    )
    series = by_name(exported)
    assert set(series) == set(new)
    [t2] = {s["timestamps"][1] for s in exported}
    assert t1 < t2
    for name, s in series.items():
        assert s["timestamps"] == [t1, t2], name
        assert s["values"] == [pytest.approx(old[name]), pytest.approx(new[name])], name
    assert old != new  # the plant moved on: the spooled values really are the old ones


# --------------------------------------------------------------------------- the spool


def sample(serial: str, timestamp: float) -> Publication:
    groups = {"Power": {"PV Power": int(timestamp) % 5000, "SOC": 50}, "Energy/Today": {"x": 1.5}}
    return Publication(serial=serial, groups=groups, timestamp=timestamp)


def sink_for(url: str, state: Path, max_bytes: int = 1 << 20, timeout: float = 5.0) -> InfluxSink:
    spool = Spool(state / "influx-spool-test.lp", max_bytes)
    return InfluxSink(url, TOKEN, "GivTCP", "GivEnergy", spool, timeout=timeout)


def test_full_spool_drops_the_oldest_points_with_a_warning(victoria_metrics, free_port, tmp_path,
                                                           caplog):  # fmt: skip
    serial = f"SP{uuid.uuid4().hex[:8].upper()}"
    start = 1_700_000_000.0
    per_read = sum(len(line) + 1 for line in points(sample(serial, start)))
    down = sink_for(f"http://127.0.0.1:{free_port}", tmp_path, max_bytes=3 * per_read + 10)
    caplog.set_level(logging.WARNING, logger="outputs.influx")
    for i in range(5):
        with pytest.raises(OutputError, match="Connection refused"):
            down.publish(sample(serial, start + 60 * i))
    lines = down.spool.read()
    assert line_times(lines) == {round((start + 60 * i) * 1000) for i in (2, 3, 4)}
    assert len(lines) == 3 * 2
    drops = [r.getMessage() for r in caplog.records if "dropped the 2 oldest" in r.getMessage()]
    assert len(drops) == 2  # the 4th and the 5th failed read each pushed one read out

    up = sink_for(victoria_metrics.url, tmp_path)
    up.publish(sample(serial, start + 300))
    assert not down.spool.path.exists()
    exported = victoria_metrics.export(
        f'{{serial="{serial}"}}',
        until=lambda s: len(s) == 3 and all(len(x["timestamps"]) == 4 for x in s),
    )
    expected = [round((start + 60 * i) * 1000) for i in (2, 3, 4, 5)]
    assert [s["timestamps"] for s in exported] == [expected] * 3


def _publish_down(args: tuple[str, str, str, int]) -> int:
    url, state, serial, base = args
    sink = sink_for(url, Path(state))
    failed = 0
    for i in range(10):
        try:
            sink.publish(sample(serial, base + i))
        except OutputError:
            failed += 1
    return failed


def _publish_up(args: tuple[str, str, str, int]) -> None:
    url, state, serial, base = args
    sink_for(url, Path(state)).publish(sample(serial, base))


def test_concurrent_runs_neither_lose_nor_repeat_points(victoria_metrics, free_port, tmp_path):
    serial = f"CC{uuid.uuid4().hex[:8].upper()}"
    down_url = f"http://127.0.0.1:{free_port}"
    jobs = [(down_url, str(tmp_path), serial, 1_700_000_000 + 100 * n) for n in range(4)]
    with ProcessPoolExecutor(4) as pool:
        assert sum(pool.map(_publish_down, jobs)) == 40
    lines = Spool(tmp_path / "influx-spool-test.lp").read()
    assert len(lines) == 40 * 2
    assert len(line_times(lines)) == 40
    assert all(line.startswith(serial) for line in lines)

    # Two runs flush at once: the spool goes out exactly once.
    jobs = [(victoria_metrics.url, str(tmp_path), serial, 1_700_001_000 + n) for n in range(2)]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_publish_up, jobs))
    exported = victoria_metrics.export(
        f'{{__name__="{serial}_pv_power"}}',
        until=lambda s: bool(s) and len(s[0]["timestamps"]) >= 42,
    )
    assert len(exported) == 1
    stamps = exported[0]["timestamps"]
    assert len(stamps) == len(set(stamps)) == 42


# --------------------------------------------------------------------------- fake InfluxDB


class FakeInflux:
    """A loopback HTTP server answering each POST with the next scripted status."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[str] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                fake.bodies.append(self.rfile.read(length).decode())
                status = fake.statuses.pop(0) if fake.statuses else 204
                body = b""
                if status != 204:
                    body = json.dumps({"code": "error", "message": f"fake {status}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_influx() -> Iterator[Callable[[list[int]], FakeInflux]]:
    servers: list[FakeInflux] = []

    def make(statuses: list[int]) -> FakeInflux:
        servers.append(FakeInflux(statuses))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_wrong_token_says_so_and_spools(fake_influx, start_sim, tmp_path):
    fake = fake_influx([401])
    sim = start_sim(13)
    run = run_script("read.py", "runAll", env=influx_env(sim, tmp_path, fake.url))
    assert run.code == 3
    assert "InfluxDB output failed" in run.stderr
    assert "refused INFLUX_TOKEN (HTTP 401): the token is wrong" in run.stderr
    assert TOKEN not in run.stderr
    assert "Power" in run.json()
    [spool] = spool_files(tmp_path)
    assert spool.read_text().splitlines() == fake.bodies[0].splitlines()


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (403, "refused INFLUX_TOKEN (HTTP 403)"),
        (404, "HTTP 404: fake 404 (check INFLUX_ORG 'GivTCP' and INFLUX_BUCKET 'GivEnergy')"),
        (500, "answered HTTP 500: fake 500"),
        (503, "answered HTTP 503: fake 503"),
    ],
)
def test_http_errors_are_explained_and_spooled(fake_influx, tmp_path, status, words):
    fake = fake_influx([status])
    sink = sink_for(fake.url, tmp_path)
    with pytest.raises(OutputError) as failure:
        sink.publish(sample("SA0000X001", 1_700_000_000))
    assert words in str(failure.value)
    assert "2 points kept in" in str(failure.value)
    assert sink.spool.read() == fake.bodies[0].splitlines()
    # Next run: the server is fine again; spooled points go first, in their own request.
    sink.publish(sample("SA0000X001", 1_700_000_060))
    assert [line_times(b.splitlines()) for b in fake.bodies[1:]] == [
        {1_700_000_000_000},
        {1_700_000_060_000},
    ]
    assert not sink.spool.path.exists()


def test_a_silent_server_times_out_and_spools(tmp_path):
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        sink = sink_for(url, tmp_path, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(OutputError, match=r"did not answer within 0\.5 s"):
            sink.publish(sample("SA0000X002", 1_700_000_000))
        assert time.monotonic() - started < 5
    assert len(sink.spool.read()) == 2


def test_spooled_points_refused_again_are_dropped_not_retried_forever(fake_influx, tmp_path):
    fake = fake_influx([400, 400])
    sink = sink_for(fake.url, tmp_path)
    with pytest.raises(OutputError, match="HTTP 400: fake 400"):
        sink.publish(sample("SA0000X003", 1_700_000_000))
    assert len(sink.spool.read()) == 2
    with pytest.raises(
        OutputError,
        match="HTTP 400: fake 400; dropped 2 spooled points it refused a second time; this",
    ):
        sink.publish(sample("SA0000X003", 1_700_000_060))
    assert not sink.spool.path.exists()  # the new points were accepted (204)
    assert line_times(fake.bodies[2].splitlines()) == {1_700_000_060_000}


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (Settings(influx_url="localhost:8086"), "INFLUX_URL must start with http://"),
        (Settings(influx_bucket=""), "INFLUX_BUCKET is empty"),
    ],
)
def test_bad_settings_are_refused_before_any_write(settings, words):
    with pytest.raises(OutputError, match=words):
        create(settings)
