"""Family-only values reach the sinks through the report metadata alone: a three-phase read
(per-phase values, HV stack) decoded from the shared capture, published to a real broker with
Home Assistant discovery (skipped without shared/vectors)."""

from __future__ import annotations

import json
import uuid

import pytest

from givenergy_modbus_codec.model import decode_inverter
from givenergy_modbus_codec.reader import RegisterSnapshot
from givtcp import hv_batteries, publishing, reading
from givtcp.config import Settings
from tests.givtcp.test_family_captures import HR, IR, THREE_PHASE, _stack, register_file


@pytest.mark.servers
def test_three_phase_values_and_hv_stack_through_mqtt_and_discovery(mosquitto_anon, tmp_path):
    regs = register_file(THREE_PHASE)
    hr, ir = regs[(0x11, HR)], regs[(0x11, IR)]
    # The capture holds no HR 13-17 (serial): give the unit one, "ZZ1234Z000".
    inverter = decode_inverter(
        {**hr, **{13 + i: w for i, w in enumerate((0x5A5A, 0x3132, 0x3334, 0x5A30, 0x3030))}}, ir
    )
    serial = inverter.serial
    result = reading.build_result(
        "getCombinedStats", inverter, [], RegisterSnapshot(holding=hr, input=ir), False, 1.0
    )
    stack = _stack(THREE_PHASE)
    hv_batteries.add_to(result, (stack,))
    root = f"givtcp-test/{uuid.uuid4().hex[:10]}"
    settings = Settings(
        mqtt_output=True,
        mqtt_address=mosquitto_anon.host,
        mqtt_port=mosquitto_anon.port,
        mqtt_topic=root,
        json_output=False,
        state_location=str(tmp_path),
    )
    node = f"homeassistant/+/givtcp_{serial.lower()}/#"
    try:
        assert publishing.publish(result, settings) == []
        values = {t: m.text for t, m in mosquitto_anon.retained(f"{root}/#").items()}
        configs = {t: m.json() for t, m in mosquitto_anon.retained(node).items()}
    finally:
        mosquitto_anon.clear_retained(f"{root}/#")
        mosquitto_anon.clear_retained(node)
    phase = result.groups["Power/Phases"]["Grid Power Phase 1"]
    assert values[f"{root}/Power/Phases/Grid Power Phase 1"] == json.dumps(phase)
    assert values[f"{root}/Power/SOC"] == str(ir[1132])
    bcu = stack.serial
    assert values[f"{root}/Battery Details/{bcu} Module 6/Battery Cell 24 Voltage"] == str(
        regs[(0x55, IR)][83] / 1000
    )
    by_name = {c["name"]: c for c in configs.values()}
    grid_phase = by_name["Grid Power Phase 1"]
    assert (grid_phase["unit_of_measurement"], grid_phase["device_class"]) == ("W", "power")
    cell = next(
        c
        for c in configs.values()
        if c["state_topic"].endswith(f"{bcu} Module 6/Battery Cell 24 Voltage")
    )
    assert cell["unit_of_measurement"] == "V" and cell["device"]["via_device"] == serial
