"""read.py end to end: a subprocess against the simulator over TCP, checked against its truth."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.scripts import run_script, sim_env

NOON = dt.datetime(2026, 6, 21, 12, 0, 0)


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(seed=3, speed=0.0, start_time=NOON, batteries=2))
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


def s16(raw: int) -> int:
    return raw - 65536 if raw >= 32768 else raw


def ascii_serial(regs: dict[int, int], first: int) -> str:
    return b"".join(regs[r].to_bytes(2, "big") for r in range(first, first + 5)).decode()


def test_run_all_publishes_true_values(sim, tmp_path):
    run = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path))
    assert run.code == 0, run.stderr
    out = run.json()
    truth = sim.truth()
    ir, hr = truth["input"], truth["holding"]
    assert out["Power"]["PV Power"] == ir[18] + ir[20]
    assert out["Power"]["Grid Power"] == s16(ir[30])
    assert out["Power"]["Battery Power"] == s16(ir[52])
    assert out["Power"]["SOC"] == ir[59]
    assert out["Energy/Total"]["PV Energy Total kWh"] == round(((ir[11] << 16) + ir[12]) / 10, 1)
    assert out["Invertor Details"]["Invertor Serial Number"] == ascii_serial(hr, 13)
    assert out["Invertor Details"]["Invertor Temperature"] == s16(ir[41]) / 10
    assert out["Timeslots"]["Charge start time slot 1"] == f"{hr[94]:04d}"
    assert out["Control"]["Target SOC"] == hr[116]
    batteries = out["Battery Details"]
    assert len(batteries) == 2
    for page in truth["batteries"].values():
        serial = ascii_serial(page, 110)
        assert batteries[serial]["Battery SOC"] == page[100]
        assert batteries[serial]["Battery Cell 1 Voltage"] == page[60] / 1000
    assert "Data Quality" not in out
    assert "raw/holding" not in out


def test_each_function_reads_only_its_banks(sim, tmp_path):
    env = sim_env(sim.port, tmp_path, NUM_BATTERIES="2")
    expected = {
        "getTimeslots": ({"Timeslots"}, {"HR(0,60)", "HR(60,60)"}),
        "getModesandTimes": (
            {"Timeslots", "Control", "Invertor Details"},
            {"HR(0,60)", "HR(60,60)"},
        ),
        "getCombinedStats": (
            {
                "Power",
                "Power/Flows",
                "Energy/Today",
                "Energy/Total",
                "Invertor Details",
                "Battery Details",
            },
            {"HR(0,60)", "IR(0,60)", "IR(180,60)", "IR(60,60)"},
        ),
    }
    # The first run has no last-good history, so it confirms the energy counters with a second
    # read of their banks; from then on every bank is read once.
    assert run_script("read.py", "getCombinedStats", env=env).code == 0
    for function, (groups, banks) in expected.items():
        before = len(sim.requests)
        run = run_script("read.py", function, env=env)
        assert run.code == 0, run.stderr
        assert set(run.json()) == groups, function
        requests = sim.requests[before:]
        labels = {
            f"{'HR' if r.frame.function == 3 else 'IR'}({r.frame.base},{r.frame.count})"
            for r in requests
        }
        assert labels == banks, function
        per_bank = [(r.frame.device, r.frame.function, r.frame.base) for r in requests]
        assert len(per_bank) == len(set(per_bank)), f"{function} read a bank twice"


def test_run_all_alias_and_raw_registers(sim, tmp_path):
    run = run_script("read.py", "runALL", env=sim_env(sim.port, tmp_path, PRINT_RAW="true"))
    assert run.code == 0, run.stderr
    out = run.json()
    hr = sim.truth()["holding"]
    assert out["raw/holding"]["charge_slot_1_start(94)"] == hr[94]
    assert out["raw/input"]["battery_percent(59)"] == sim.truth()["input"][59]


def test_absurd_values_are_never_published(sim, tmp_path):
    sim.faults.garbage_values_rate = 1.0
    run = run_script("read.py", "getCombinedStats", env=sim_env(sim.port, tmp_path))
    assert run.code == 0, run.stderr
    out = run.json()
    rejected = out["Data Quality"]["rejected"]
    assert rejected, "garbage pages must be reported"
    assert out["Power"].get("SOC") != 255
    assert all(v != 65535 for v in out["Power"].values())
    for key in rejected:
        group, _, name = key.rpartition("/")
        assert name not in out.get(group, {}), key


def test_unknown_function_exits_2_with_the_valid_list(tmp_path):
    run = run_script("read.py", "getEverything", env={})
    assert run.code == 2
    assert run.stdout == ""
    message = run.error()["error"]
    for name in ("getTimeslots", "getCombinedStats", "getModesandTimes", "runAll"):
        assert name in message


def test_help_lists_functions():
    run = run_script("read.py", "--help", env={})
    assert run.code == 0
    for name in ("getTimeslots", "getCombinedStats", "getModesandTimes", "runAll", "exit codes"):
        assert name in run.stdout


def test_missing_inverter_address_exits_2(tmp_path):
    run = run_script("read.py", "runAll", env={"STATE_LOCATION": str(tmp_path)})
    assert run.code == 2
    assert "INVERTOR_IP" in run.error()["error"]


def test_malformed_setting_exits_2(sim, tmp_path):
    run = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path, MQTT_PORT="x"))
    assert run.code == 2
    assert "MQTT_PORT" in run.error()["error"]


def test_unreachable_inverter_exits_1_quickly(sim, tmp_path):
    sim.faults.silent = True
    run = run_script("read.py", "runAll", env=sim_env(sim.port, tmp_path), timeout=30)
    assert run.code == 1
    assert run.stdout == ""
    assert "did not answer" in run.error()["error"]


def test_failing_output_exits_3_and_json_still_delivered(sim, tmp_path):
    with socket.socket() as unused:  # a port nobody listens on: the broker is down
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    env = sim_env(
        sim.port, tmp_path, MQTT_OUTPUT="1", MQTT_ADDRESS="127.0.0.1", MQTT_PORT=str(port)
    )
    run = run_script("read.py", "getTimeslots", env=env)
    assert run.code == 3
    assert "Timeslots" in run.json()
    assert f"MQTT broker 127.0.0.1:{port}: cannot connect" in run.stderr


def test_debug_log_written_without_secrets(sim, tmp_path):
    env = sim_env(
        sim.port,
        tmp_path,
        DEBUG="true",
        DEBUG_FILE_LOCATION=str(tmp_path),
        MQTT_PASSWORD="hunter2-secret",
        INFLUX_TOKEN="influx-token-xyz",
    )
    run = run_script("read.py", "getTimeslots", "-v", env=env)
    assert run.code == 0, run.stderr
    log = (tmp_path / "givtcp_debug.log").read_text()
    assert "HR(0,60)" in log
    for secret in ("hunter2-secret", "influx-token-xyz"):
        assert secret not in log
        assert secret not in run.stderr
