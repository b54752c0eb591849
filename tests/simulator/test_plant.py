"""The plant model: holding-register writes change behaviour; counters, clock and SOC stay sane."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from givenergy_modbus_codec.frames import Function, ReadRequest, WriteRequest, WriteResponse
from givenergy_modbus_codec.model import decode_battery, decode_inverter
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig

from .wire import NOON

WINTER_NIGHT = dt.datetime(2024, 1, 15, 22, 0)  # no PV until ~09:00
EVENING = dt.datetime(2024, 1, 15, 19, 0)
DAY = {
    "e_pv1_day": 17,
    "e_pv2_day": 19,
    "e_grid_out_day": 25,
    "e_grid_in_day": 26,
    "e_ac_charge_day": 35,
    "e_battery_charge_day": 36,
    "e_battery_discharge_day": 37,
    "e_inverter_out_day": 44,
    "e_battery_discharge_day_gen1": 182,
    "e_battery_charge_day_gen1": 183,
}
TOTAL_U32 = {
    "e_battery_throughput_total": 6,
    "e_pv_total": 11,
    "e_grid_out_total": 21,
    "e_inverter_in_total": 27,
    "e_grid_in_total": 32,
    "e_inverter_out_total": 45,
}


def write(client, register: int, value: int) -> None:
    answer, _ = client.ask(WriteRequest(0x11, register, value))
    assert isinstance(answer, WriteResponse) and answer.value == value


def plant(sim: Simulator) -> dict:
    return sim.truth()["plant"]


def u32(regs: dict[int, int], address: int) -> int:
    return (regs[address] << 16) | regs[address + 1]


def test_charge_slot_charges_from_the_grid_up_to_the_target(make_sim, connect):
    sim = make_sim(start_time=WINTER_NIGHT)
    client = connect(sim)
    soc = plant(sim)["soc"]
    assert plant(sim)["battery_mode"] == "eco" and plant(sim)["battery_power_w"] > 0
    assert soc < 75, "precondition: the battery has room to charge"
    target = int(soc) + 20
    for register, value in ((94, 2200), (95, 600), (20, 1), (116, target), (96, 1)):
        write(client, register, value)
    now = plant(sim)
    assert now["battery_mode"] == "timed charge"
    assert now["battery_power_w"] == -2600  # Gen1 maximum
    assert now["grid_power_w"] == -(2600 + now["load_w"])  # no PV at night: all from the grid
    sim.advance(3 * 3600)
    now = plant(sim)
    assert now["soc"] == pytest.approx(target)
    assert (now["battery_mode"], now["battery_power_w"]) == ("charged", 0)
    assert sim.truth()["input"][59] == target
    sim.advance(6 * 3600)  # 07:00, after the slot: eco again, discharging to meet the load
    now = plant(sim)
    assert now["battery_mode"] == "eco"
    assert now["battery_power_w"] == min(now["load_w"], 2600)


def test_charge_target_is_ignored_without_enable_charge_target(make_sim, connect):
    sim = make_sim(start_time=WINTER_NIGHT)
    client = connect(sim)
    for register, value in ((94, 2200), (95, 600), (20, 0), (116, 30), (96, 1)):
        write(client, register, value)
    sim.advance(7 * 3600)
    assert plant(sim)["soc"] == pytest.approx(100)


def test_eco_demand_export_and_storage_modes(make_sim, connect):
    sim = make_sim(start_time=EVENING)
    client = connect(sim)

    def flows() -> tuple[int, int, int]:
        p = plant(sim)
        assert p["pv_power_w"] == 0
        assert p["grid_power_w"] == p["battery_power_w"] - p["load_w"]
        return p["battery_power_w"], p["load_w"], p["grid_power_w"]

    battery, load, grid = flows()  # eco (HR27 = 1, HR59 = 0): match the house demand
    assert battery == min(load, 2600)
    for register, value in ((56, 1800), (57, 2100), (59, 1), (27, 0)):
        write(client, register, value)
    battery, load, grid = flows()  # timed export: discharge at full power, export the rest
    assert (plant(sim)["battery_mode"], battery) == ("timed export", 2600)
    assert grid == 2600 - load > 0
    write(client, 27, 1)
    battery, load, grid = flows()  # timed demand: match the demand inside the slot
    assert (plant(sim)["battery_mode"], battery) == ("timed demand", min(load, 2600))
    write(client, 56, 2100)
    write(client, 57, 2200)
    battery, load, grid = flows()  # outside the slot: storage, no discharge
    assert (plant(sim)["battery_mode"], battery, grid) == ("storing surplus", 0, -load)


def test_reserve_limits_discharge(make_sim, connect):
    sim = make_sim(start_time=EVENING)
    client = connect(sim)
    soc = plant(sim)["soc"]
    floor = int(soc) - 10
    for register, value in ((56, 1800), (57, 2300), (59, 1), (27, 0), (110, floor)):
        write(client, register, value)
    assert plant(sim)["battery_power_w"] == 2600
    sim.advance(2 * 3600)
    now = plant(sim)
    assert now["soc"] == pytest.approx(floor)
    assert now["battery_power_w"] == 0
    write(client, 110, 100)  # reserve 100 %: nothing to discharge ("paused")
    write(client, 27, 1)
    assert plant(sim)["battery_power_w"] == 0


def test_charge_and_discharge_limits_pause_and_cap_the_battery(make_sim, connect):
    sim = make_sim(start_time=EVENING)
    client = connect(sim)
    for register, value in ((56, 1800), (57, 2300), (59, 1), (27, 0)):
        write(client, register, value)
    write(client, 112, 0)  # discharge paused
    assert plant(sim)["battery_power_w"] == 0
    write(client, 112, 10)  # 0.1 C of 160 Ah x 51.2 V = 819 W
    assert plant(sim)["battery_power_w"] == 819
    for register, value in ((59, 0), (94, 1800), (95, 2300), (96, 1), (111, 0)):
        write(client, register, value)
    assert plant(sim)["battery_power_w"] == 0  # charging paused inside the charge slot
    write(client, 111, 50)
    assert plant(sim)["battery_power_w"] == -2600


def test_gen2_battery_power_limit_is_3600_w(make_sim, connect):
    sim = make_sim(model="gen2", start_time=EVENING)
    client = connect(sim)
    for register, value in ((56, 1800), (57, 2300), (59, 1), (27, 0)):
        write(client, register, value)
    assert plant(sim)["battery_power_w"] == 3600


def test_ac_pause_mode_stops_discharging(make_sim, connect):
    sim = make_sim(model="ac", start_time=EVENING)
    client = connect(sim)
    assert plant(sim)["battery_power_w"] > 0
    write(client, 318, 2)  # pause discharge, window 0/0 = all day
    assert plant(sim)["battery_power_w"] == 0
    write(client, 319, 2000)  # window 20:00-21:00 does not include 19:00
    write(client, 320, 2100)
    assert plant(sim)["battery_power_w"] > 0


def test_midnight_resets_today_counters_and_totals_only_grow(sim):
    sim.advance(11 * 3600 + 50 * 60)  # 23:50
    before = sim.truth()["input"]
    assert sum(before[a] for a in DAY.values()) > 0
    sim.advance(15 * 60)  # 00:05 the next day
    after = sim.truth()
    assert after["time"] == dt.datetime(2024, 6, 22, 0, 5)
    assert all(after["input"][a] <= 1 for a in DAY.values()), after["input"]
    assert all(v < 0.1 for v in after["plant"]["energy_today_kwh"].values())
    for address in TOTAL_U32.values():
        assert u32(after["input"], address) >= u32(before, address)
    assert after["holding"][37] == 22


def test_counters_over_two_days_are_monotonic_except_daily_resets(sim):
    previous = sim.truth()
    for _ in range(48):
        sim.advance(3600)
        now = sim.truth()
        for address in TOTAL_U32.values():
            assert u32(now["input"], address) >= u32(previous["input"], address)
        new_day = now["time"].date() != previous["time"].date()
        for address in DAY.values():
            assert new_day or now["input"][address] >= previous["input"][address]
        previous = now
    assert previous["time"] == dt.datetime(2024, 6, 23, 12, 0)


def test_soc_integrates_battery_energy_within_capacity(sim):
    start = sim.truth()["plant"]
    sim.advance(8 * 3600)
    end = sim.truth()["plant"]
    net_wh = 1000 * (
        (end["energy_total_kwh"]["battery_charge"] - start["energy_total_kwh"]["battery_charge"])
        - (
            end["energy_total_kwh"]["battery_discharge"]
            - start["energy_total_kwh"]["battery_discharge"]
        )
    )
    assert end["battery_capacity_wh"] == 160 * 51.2
    assert (end["soc"] - start["soc"]) / 100 * 8192 == pytest.approx(net_wh, abs=2)
    assert 0 <= end["soc"] <= 100


def test_pv_follows_the_time_of_day_and_season(make_sim):
    sim = make_sim(start_time=dt.datetime(2024, 6, 21, 2, 0))
    assert plant(sim)["pv_power_w"] == 0
    summer = []
    for _ in range(4):
        sim.advance(3 * 3600)  # 05:00 .. 14:00
        summer.append(plant(sim)["pv_power_w"])
    assert max(summer) > 1500
    winter = make_sim(start_time=dt.datetime(2024, 1, 15, 13, 0))
    assert 0 < plant(winter)["pv_power_w"] < max(summer)


def test_grid_is_the_balance_of_pv_battery_and_load(sim):
    for _ in range(24):
        p = plant(sim)
        assert p["grid_power_w"] == p["pv_power_w"] + p["battery_power_w"] - p["load_w"]
        assert p["inverter_power_w"] == p["pv_power_w"] + p["battery_power_w"]
        sim.advance(3600)


def test_clock_registers_tick_with_advance_and_speed(make_sim):
    sim = make_sim()
    sim.advance(3661)
    assert [sim.truth()["holding"][a] for a in range(35, 41)] == [24, 6, 21, 13, 1, 1]
    fast = make_sim(speed=600.0)  # ten plant minutes per wall second
    time.sleep(0.2)
    elapsed = (fast.truth()["time"] - NOON).total_seconds()
    assert 100 <= elapsed < 600


def test_same_seed_same_run_and_other_seed_other_run():
    def run(seed: int) -> dict:
        sim = Simulator(SimulatorConfig(seed=seed, speed=0.0, start_time=EVENING))
        sim.advance(5 * 3600)
        return sim.truth()

    assert run(5) == run(5)
    assert run(5)["plant"]["inverter_serial"] != run(6)["plant"]["inverter_serial"]
    assert run(5)["input"] != run(6)["input"]


@pytest.mark.parametrize("model", ["hybrid", "ac", "gen2"])
def test_registers_decode_as_plausible_with_the_project_model(model):
    sim = Simulator(
        SimulatorConfig(seed=2, model=model, batteries=2, speed=0.0, start_time=EVENING)
    )
    for _ in range(8):
        truth = sim.truth()
        inverter = decode_inverter(truth["holding"], truth["input"])
        assert inverter.invalid == {}
        assert inverter.serial == truth["plant"]["inverter_serial"]
        assert inverter.family == ("AC" if model == "ac" else "Hybrid")
        for page in truth["batteries"].values():
            battery = decode_battery(page)
            assert battery.invalid == {} and battery.is_valid_page() == (True, "")
        sim.advance(3 * 3600)


def test_battery_pages_follow_the_inverter_soc_and_serials(make_sim, connect):
    sim = make_sim(batteries=2)
    client = connect(sim)
    truth = sim.truth()
    for device, serial in zip((0x32, 0x33), truth["plant"]["battery_serials"], strict=True):
        page, _ = client.ask(ReadRequest(device, Function.READ_INPUT, 60, 60))
        battery = decode_battery(page.registers())
        assert battery.serial == serial
        assert battery.soc == truth["input"][59]
    assert truth["holding"][55] == 320  # HR55: both packs, 2 x 160 Ah
