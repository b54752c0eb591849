"""Control functions: exact writes in order, every rejection path, and no v1.0 bug (§12)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from givenergy_modbus_codec import commands as C
from givenergy_modbus_codec.commands import (
    CONTROL_FUNCTIONS,
    InverterContext,
    RegisterWrite,
    plan_writes,
)
from givenergy_modbus_codec.errors import CodecError, ValidationError
from givenergy_modbus_codec.model import Capabilities
from givenergy_modbus_codec.registers import WRITE_ALLOWLIST, is_writable

GEN1_8KWH = InverterContext(battery_capacity_wh=8192.0, battery_max_power_w=2600)
# Every control available: 10 slots with targets and the AC bank (an All-in-One).
EVERYTHING = InverterContext(8192.0, 2600, Capabilities("All-in-One", 10, 10, True, True))


def pairs(writes: list[RegisterWrite]) -> list[tuple[int, int]]:
    return [(w.register, w.value) for w in writes]


def rejected(function, payload=None, context=None) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        plan_writes(function, payload, context)
    return info.value


# -- the function table ------------------------------------------------------------------------


def test_function_names_and_order():
    assert list(CONTROL_FUNCTIONS)[:20] == [
        "enableChargeTarget",
        "disableChargeTarget",
        "pauseChargeSchedule",
        "resumeChargeSchedule",
        "pauseDischargeSchedule",
        "resumeDischargeSchedule",
        "setChargeTarget",
        "setBatteryReserve",
        "setChargeSlot1",
        "setChargeSlot2",
        "setDischargeSlot1",
        "setDischargeSlot2",
        "setBatteryMode",
        "setChargeRate",
        "setDischargeRate",
        "pauseBatteryCharge",
        "resumeBatteryCharge",
        "pauseBatteryDischarge",
        "resumeBatteryDischarge",
        "setDateTime",
    ]
    issue_12 = {
        "enableChargeSchedule",
        "enableDischargeSchedule",
        "setDischargeTarget",
        *(f"set{kind}Slot{k}" for kind in ("Charge", "Discharge") for k in range(3, 11)),
        *(f"clear{kind}Slot{k}" for kind in ("Charge", "Discharge") for k in range(1, 11)),
        "setBatteryPauseMode",
        "setPauseSlot",
        "setExportLimit",
        "enableEPS",
        "disableEPS",
        "setActivePowerRate",
        "rebootInverter",
        "startBatteryCalibration",
        "stopBatteryCalibration",
        "syncDateTime",
    }
    assert set(list(CONTROL_FUNCTIONS)[20:]) >= issue_12


@pytest.mark.parametrize("name", list(CONTROL_FUNCTIONS))
def test_every_example_payload_plans_allowlisted_writes(name):
    spec = CONTROL_FUNCTIONS[name]
    assert spec.name == name
    assert spec.description
    assert set(spec.example) <= {k.name for k in spec.keys}
    assert set(spec.required) <= set(spec.example)
    writes = plan_writes(name, spec.example, EVERYTHING if spec.needs_context else None)
    assert writes
    for write in writes:
        assert is_writable(write.register, write.value)
        assert WRITE_ALLOWLIST[write.register].name == write.name


def test_spec_required_and_optional_keys():
    slot = CONTROL_FUNCTIONS["setChargeSlot1"]
    assert slot.required == ("start", "finish")
    assert slot.optional == ("chargeToPercent",)
    assert slot.ignored_keys == {"enable"}
    assert CONTROL_FUNCTIONS["setDischargeSlot2"].optional == ("dischargeToPercent",)
    assert CONTROL_FUNCTIONS["setChargeRate"].needs_context
    assert CONTROL_FUNCTIONS["pauseChargeSchedule"].keys == ()
    assert "4..100" in CONTROL_FUNCTIONS["setChargeTarget"].keys[0].allowed


# -- each function's writes, in order -------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("enableChargeTarget", [(20, 1)]),
        ("disableChargeTarget", [(20, 0)]),
        ("pauseChargeSchedule", [(96, 0)]),
        ("resumeChargeSchedule", [(96, 1)]),
        ("pauseDischargeSchedule", [(59, 0)]),
        ("resumeDischargeSchedule", [(59, 1)]),
        ("pauseBatteryCharge", [(111, 0)]),
        ("resumeBatteryCharge", [(111, 50)]),
        ("pauseBatteryDischarge", [(112, 0)]),
        ("resumeBatteryDischarge", [(112, 50)]),
    ],
)
def test_payloadless_functions(function, expected):
    assert pairs(plan_writes(function)) == expected
    assert pairs(plan_writes(function, {})) == expected


def test_write_names_come_from_the_register_table():
    assert plan_writes("enableChargeTarget") == [RegisterWrite(20, 1, "enable_charge_target")]
    assert plan_writes("setBatteryReserve", {"dischargeToPercent": 10}) == [
        RegisterWrite(114, 10, "battery_discharge_min_power_reserve")
    ]


@pytest.mark.parametrize("value", ["50", 50, 50.0, " 50 "])
def test_set_charge_target(value):
    assert pairs(plan_writes("setChargeTarget", {"chargeToPercent": value})) == [(116, 50)]


def test_set_charge_target_range_edges():
    assert pairs(plan_writes("setChargeTarget", {"chargeToPercent": "4"})) == [(116, 4)]
    assert pairs(plan_writes("setChargeTarget", {"chargeToPercent": "100"})) == [(116, 100)]


def test_set_battery_reserve():
    assert pairs(plan_writes("setBatteryReserve", {"dischargeToPercent": "5"})) == [(114, 5)]
    assert pairs(plan_writes("setBatteryReserve", {"dischargeToPercent": 4})) == [(114, 4)]


def test_set_charge_slot_1_with_target_enables_it_first():
    writes = plan_writes(
        "setChargeSlot1", {"start": "0100", "finish": "0400", "chargeToPercent": "55"}
    )
    assert pairs(writes) == [(116, 55), (20, 1), (94, 100), (95, 400), (96, 1)]
    assert [w.name for w in writes] == [
        "charge_target_soc",
        "enable_charge_target",
        "charge_slot_1_start",
        "charge_slot_1_end",
        "enable_charge",
    ]


def test_set_charge_slot_1_without_target_leaves_it_alone():
    writes = plan_writes("setChargeSlot1", {"start": "0030", "finish": "0430", "enable": "1"})
    assert pairs(writes) == [(94, 30), (95, 430), (96, 1)]


def test_set_charge_slot_2_uses_hr31_32():
    assert pairs(plan_writes("setChargeSlot2", {"start": "2330", "finish": "0530"})) == [
        (31, 2330),
        (32, 530),
        (96, 1),
    ]
    with_target = plan_writes("setChargeSlot2", {"start": 0, "finish": 0, "chargeToPercent": 80})
    assert pairs(with_target) == [(116, 80), (20, 1), (31, 0), (32, 0), (96, 1)]


def test_set_discharge_slots():
    assert pairs(
        plan_writes(
            "setDischargeSlot1", {"start": "1600", "finish": "1900", "dischargeToPercent": "20"}
        )
    ) == [(56, 1600), (57, 1900), (114, 20)]
    assert pairs(plan_writes("setDischargeSlot1", {"start": "1600", "finish": "1900"})) == [
        (56, 1600),
        (57, 1900),
    ]
    assert pairs(
        plan_writes("setDischargeSlot2", {"start": "1900", "finish": "2200", "enable": True})
    ) == [(44, 1900), (45, 2200)]
    assert pairs(
        plan_writes(
            "setDischargeSlot2", {"start": "1900", "finish": "2200", "dischargeToPercent": 30}
        )
    ) == [(44, 1900), (45, 2200), (114, 30)]


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        ("0100", 100),
        ("100", 100),
        (100, 100),
        ("01:00", 100),
        ("1:00", 100),
        ("0000", 0),
        (0, 0),
        (2359, 2359),
        ("2359", 2359),
        ("23:59", 2359),
        ("0030", 30),
        (30, 30),
    ],
)
def test_accepted_time_forms(value, raw):
    writes = plan_writes("setDischargeSlot1", {"start": value, "finish": "0000"})
    assert writes[0] == RegisterWrite(56, raw, "discharge_slot_1_start")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("1", [(110, 4), (59, 0), (27, 1)]),
        ("2", [(110, 100), (59, 1), (27, 1), (56, 1600), (57, 700)]),
        ("3", [(110, 100), (59, 1), (27, 1)]),
        ("4", [(110, 4), (59, 1), (27, 0)]),
        (4, [(110, 4), (59, 1), (27, 0)]),
    ],
)
def test_set_battery_mode(mode, expected):
    assert pairs(plan_writes("setBatteryMode", {"mode": mode})) == expected


@pytest.mark.parametrize(
    ("watts", "raw"),
    [
        (0, 0),
        ("0", 0),
        (1000, 12),  # 1000 / 4096 * 50 = 12.2
        (1500, 18),  # 18.3
        (2048, 25),  # exactly 25
        ("2600", 32),  # 31.7: the Gen1 battery max power
        (2580, 31),  # 31.49 rounds down
        (2581, 32),  # 31.505 rounds up
    ],
)
def test_set_charge_and_discharge_rate(watts, raw):
    assert pairs(plan_writes("setChargeRate", {"chargeRate": watts}, GEN1_8KWH)) == [(111, raw)]
    assert pairs(plan_writes("setDischargeRate", {"dischargeRate": watts}, GEN1_8KWH)) == [
        (112, raw)
    ]


def test_rate_is_capped_at_full_rate_for_small_batteries():
    small = InverterContext(battery_capacity_wh=2662.4, battery_max_power_w=3600)  # 52 Ah
    assert pairs(plan_writes("setChargeRate", {"chargeRate": 3600}, small)) == [(111, 50)]
    assert pairs(plan_writes("setChargeRate", {"chargeRate": 1331}, small)) == [(111, 50)]
    assert pairs(plan_writes("setChargeRate", {"chargeRate": 665}, small)) == [(111, 25)]


def test_rate_half_rounds_up():
    ctx = InverterContext(battery_capacity_wh=10000.0, battery_max_power_w=3600)
    # 100 W -> 100 / 5000 * 50 = 1.0; 150 W -> 1.5 -> 2 (Python's round() would also give 2);
    # 250 W -> 2.5 -> 3 where round() would give 2.
    assert pairs(plan_writes("setChargeRate", {"chargeRate": 250}, ctx)) == [(111, 3)]
    assert pairs(plan_writes("setChargeRate", {"chargeRate": 100}, ctx)) == [(111, 1)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("28/04/2023 12:15:36", (23, 4, 28, 12, 15, 36)),
        ("2023-04-28 12:15:36", (23, 4, 28, 12, 15, 36)),
        ("01/01/2000 00:00:00", (0, 1, 1, 0, 0, 0)),
        ("31/12/2099 23:59:59", (99, 12, 31, 23, 59, 59)),
    ],
)
def test_set_date_time(value, expected):
    writes = plan_writes("setDateTime", {"dateTime": value})
    assert pairs(writes) == list(zip(range(35, 41), expected, strict=True))
    assert {w.name for w in writes} == {"system_time"}


# -- rejection paths ---------------------------------------------------------------------------


def test_unknown_function_lists_the_valid_ones():
    error = rejected("setChargeSlot11", {})
    assert error.field == "function"
    assert "setChargeSlot1" in error.allowed and "setDateTime" in error.allowed
    assert "setChargeSlot11" in str(error)


@pytest.mark.parametrize("payload", [[1, 2], "0100", 5, ("start",)])
def test_payload_must_be_an_object(payload):
    error = rejected("setChargeTarget", payload)
    assert error.field == "payload"
    assert error.allowed == "object"


def test_unknown_keys_are_named_with_the_accepted_ones():
    error = rejected("setChargeTarget", {"chargeToPercent": 50, "dischargeToPercent": 5})
    assert error.field == "dischargeToPercent"
    assert error.allowed == "chargeToPercent"
    error = rejected("pauseChargeSchedule", {"enable": 1})
    assert error.field == "enable"
    assert error.allowed == "no keys"
    error = rejected("setDischargeSlot1", {"start": "0100", "finish": "0200", "chargeToPercent": 5})
    assert error.field == "chargeToPercent"


@pytest.mark.parametrize(
    ("function", "payload", "field"),
    [
        ("setChargeTarget", {}, "chargeToPercent"),
        ("setChargeTarget", None, "chargeToPercent"),
        ("setBatteryReserve", {}, "dischargeToPercent"),
        ("setChargeSlot1", {"start": "0100"}, "finish"),
        ("setChargeSlot2", {"finish": "0100"}, "start"),
        ("setDischargeSlot1", {"start": "0100"}, "finish"),
        ("setBatteryMode", {}, "mode"),
        ("setChargeRate", {}, "chargeRate"),
        ("setDischargeRate", {}, "dischargeRate"),
        ("setDateTime", {}, "dateTime"),
    ],
)
def test_missing_required_keys(function, payload, field):
    error = rejected(function, payload, GEN1_8KWH)
    assert error.field == field
    assert "required" in str(error)
    assert error.allowed


@pytest.mark.parametrize("value", ["abc", "", "5%", "5.5", 5.5, None, [], {}, "1e2", float("nan")])
def test_non_numeric_percentages(value):
    error = rejected("setChargeTarget", {"chargeToPercent": value})
    assert error.field == "chargeToPercent"
    assert "whole number" in str(error)


@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_not_numbers(value):
    for function, key in (("setChargeTarget", "chargeToPercent"), ("setBatteryMode", "mode")):
        error = rejected(function, {key: value})
        assert error.field == key
        assert "boolean" in str(error)
    error = rejected("setChargeSlot1", {"start": value, "finish": "0100"})
    assert error.field == "start"
    error = rejected("setChargeRate", {"chargeRate": value}, GEN1_8KWH)
    assert error.field == "chargeRate"


@pytest.mark.parametrize("value", [0, 3, "3", -5, 101, "101", 255])
def test_percentages_outside_4_to_100_are_rejected_not_clamped(value):
    for function, key in (
        ("setChargeTarget", "chargeToPercent"),
        ("setBatteryReserve", "dischargeToPercent"),
    ):
        error = rejected(function, {key: value})
        assert error.field == key
        assert error.allowed == C.PERCENT_ALLOWED
        assert "outside 4..100" in str(error)
    error = rejected(
        "setChargeSlot1", {"start": "0100", "finish": "0400", "chargeToPercent": value}
    )
    assert error.field == "chargeToPercent"
    error = rejected(
        "setDischargeSlot2", {"start": "0100", "finish": "0400", "dischargeToPercent": value}
    )
    assert error.field == "dischargeToPercent"


@pytest.mark.parametrize(
    "value",
    [
        "2400",
        "0160",
        "abc",
        "",
        "24:00",
        "12:60",
        "1:5",
        "01:00:30",
        "12345",
        "10",
        "-100",
        2400,
        160,
        -1,
        99,
        1.0,
        None,
        "0x100",
    ],
)
def test_bad_times(value):
    for key in ("start", "finish"):
        payload = {"start": "0100", "finish": "0200"} | {key: value}
        error = rejected("setChargeSlot1", payload)
        assert error.field == key
        assert error.allowed == C.SLOT_TIME_ALLOWED


def test_slot_validation_happens_before_any_write_is_planned():
    """A bad finish rejects the whole plan, including the target writes that would come first."""
    error = rejected("setChargeSlot1", {"start": "0100", "finish": "2500", "chargeToPercent": 50})
    assert error.field == "finish"


@pytest.mark.parametrize("mode", [0, 5, "0", "5", "-1", "eco", 2.5, None])
def test_bad_modes(mode):
    error = rejected("setBatteryMode", {"mode": mode})
    assert error.field == "mode"
    assert error.allowed == C.MODE_ALLOWED


@pytest.mark.parametrize(
    "value",
    [
        "2023-04-28",
        "28/04/2023",
        "2023-04-28T12:15:36",
        "31/02/2023 12:00:00",
        "28/04/1999 12:00:00",
        "28/04/2100 12:00:00",
        "28/04/2023 24:00:00",
        20230428,
        None,
        "",
    ],
)
def test_bad_date_times(value):
    error = rejected("setDateTime", {"dateTime": value})
    assert error.field == "dateTime"
    assert error.allowed == C.DATETIME_ALLOWED


@pytest.mark.parametrize("watts", [-1, 2601, "3600", "fast", 1.5])
def test_bad_rates(watts):
    error = rejected("setChargeRate", {"chargeRate": watts}, GEN1_8KWH)
    assert error.field == "chargeRate"
    error = rejected("setDischargeRate", {"dischargeRate": watts}, GEN1_8KWH)
    assert error.field == "dischargeRate"


def test_rate_range_names_the_battery_max_power():
    error = rejected("setChargeRate", {"chargeRate": 3000}, GEN1_8KWH)
    assert error.allowed == "whole number of watts, 0..2600"


@pytest.mark.parametrize(
    "context",
    [
        None,
        InverterContext(battery_capacity_wh=0.0, battery_max_power_w=2600),
        InverterContext(battery_capacity_wh=8192.0, battery_max_power_w=0),
    ],
)
def test_rates_need_a_context(context):
    with pytest.raises(CodecError, match="setChargeRate"):
        plan_writes("setChargeRate", {"chargeRate": 1000}, context)
    with pytest.raises(CodecError, match="setDischargeRate"):
        plan_writes("setDischargeRate", {"dischargeRate": 1000}, context)


def test_payload_errors_are_reported_before_a_missing_context():
    error = rejected("setChargeRate", {"chargeRate": "fast"}, None)
    assert error.field == "chargeRate"


def test_validation_error_body():
    body = rejected("setChargeTarget", {"chargeToPercent": 2}).as_dict()
    assert body == {
        "error": "chargeToPercent = 2 is outside 4..100",
        "field": "chargeToPercent",
        "allowed": C.PERCENT_ALLOWED,
    }


# -- the allow-list gate ---------------------------------------------------------------------------


def test_gate_refuses_registers_off_the_allowlist():
    with pytest.raises(CodecError, match="HR166 = 0: not on the write allow-list"):
        C.check_allowlisted([RegisterWrite(166, 0, "enable_rtc")])
    with pytest.raises(CodecError, match="HR116 = 3: value not allowed"):
        C.check_allowlisted([RegisterWrite(116, 3, "charge_target_soc")])
    C.check_allowlisted([RegisterWrite(116, 4, "charge_target_soc")])


def test_a_planner_can_never_emit_a_non_allowlisted_write(monkeypatch):
    def rogue(_payload, _context):
        return [RegisterWrite(20, 1, "enable_charge_target"), RegisterWrite(13, 0, "serial_number")]

    monkeypatch.setitem(C._PLANNERS, "enableChargeTarget", rogue)
    with pytest.raises(CodecError, match="HR13"):
        plan_writes("enableChargeTarget")


def test_reboot_values_other_than_100_never_pass_the_gate():
    for value in (1, 2, 3, 101, 200):
        with pytest.raises(CodecError):
            C.check_allowlisted([RegisterWrite(163, value, "inverter_reboot")])


# -- GivTCP v1.0 bugs (registers.md §12) are not reproduced -------------------------------------


def test_bug7_discharge_slots_never_write_the_charge_target():
    for function in ("setDischargeSlot1", "setDischargeSlot2"):
        with_percent = plan_writes(
            function, {"start": "1600", "finish": "1900", "dischargeToPercent": "20"}
        )
        without = plan_writes(function, {"start": "1600", "finish": "1900"})
        assert 116 not in {w.register for w in with_percent + without}
        assert 20 not in {w.register for w in with_percent + without}


def test_bug8_invalid_mode_is_a_validation_error_not_a_type_error():
    error = rejected("setBatteryMode", {"mode": "7"})
    assert "mode = 7 is outside 1..4" in str(error)


def test_bug9_reserve_below_4_is_rejected_and_descriptions_are_right():
    assert rejected("setBatteryReserve", {"dischargeToPercent": "2"}).field == "dischargeToPercent"
    assert "charge target" in CONTROL_FUNCTIONS["enableChargeTarget"].description
    assert "charge target" in CONTROL_FUNCTIONS["disableChargeTarget"].description
    assert "Schedule" not in CONTROL_FUNCTIONS["enableChargeTarget"].description


def test_bug14_battery_reserve_keeps_the_v1_meaning_hr114():
    assert [w.register for w in plan_writes("setBatteryReserve", {"dischargeToPercent": 10})] == [
        114
    ]
    assert "HR114" in CONTROL_FUNCTIONS["setBatteryReserve"].description


def test_v1_unchecked_charge_target_is_now_checked():
    assert rejected("setChargeTarget", {"chargeToPercent": "150"}).field == "chargeToPercent"


def test_planning_is_pure():
    payload = {"start": "0100", "finish": "0400", "chargeToPercent": "55", "enable": "1"}
    snapshot = dict(payload)
    first = plan_writes("setChargeSlot1", payload)
    assert payload == snapshot
    assert plan_writes("setChargeSlot1", payload) == first


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_KEYS = st.sampled_from(
    [
        "start",
        "finish",
        "chargeToPercent",
        "dischargeToPercent",
        "mode",
        "chargeRate",
        "dischargeRate",
        "dateTime",
        "enable",
        "other",
    ]
)
_VALUES = _JSON | st.sampled_from(["0100", "2359", "50", "4", "3", "1", "28/04/2023 12:15:36"])


@given(
    st.sampled_from(list(CONTROL_FUNCTIONS)),
    st.dictionaries(_KEYS, _VALUES, max_size=4) | _JSON,
)
def test_any_payload_either_plans_allowlisted_writes_or_raises_a_validation_error(
    function, payload
):
    try:
        writes = plan_writes(function, payload, EVERYTHING)
    except ValidationError as error:
        assert error.field is not None and error.allowed
        return
    for write in writes:
        assert is_writable(write.register, write.value)


def test_huge_digit_strings_are_rejected_cleanly():
    assert rejected("setChargeTarget", {"chargeToPercent": "9" * 5000}).field == "chargeToPercent"


# -- issue 10 items 14/15: ASCII digits only, no echo of huge values, rates checked first ------


@pytest.mark.parametrize(
    ("function", "payload", "field"),
    [
        ("setChargeTarget", {"chargeToPercent": "٥٠"}, "chargeToPercent"),  # Arabic-Indic 50
        ("setChargeTarget", {"chargeToPercent": "５０"}, "chargeToPercent"),  # fullwidth 50
        ("setChargeSlot1", {"start": "٠١٠٠", "finish": "0400"}, "start"),
        ("setChargeSlot1", {"start": "0100", "finish": "٠٤:٠٠"}, "finish"),
        ("setDateTime", {"dateTime": "٢٨/٠٤/٢٠٢٣ ١٢:١٥:٣٦"}, "dateTime"),
        ("setChargeRate", {"chargeRate": "١٠٠٠"}, "chargeRate"),
    ],
)
def test_only_ascii_digits_are_numbers(function, payload, field):
    assert rejected(function, payload, GEN1_8KWH).field == field


def test_ascii_forms_of_the_same_values_still_plan():
    assert pairs(plan_writes("setChargeTarget", {"chargeToPercent": "50"})) == [(116, 50)]
    writes = plan_writes("setDateTime", {"dateTime": "28/04/2023 12:15:36"})
    assert pairs(writes) == [(35, 23), (36, 4), (37, 28), (38, 12), (39, 15), (40, 36)]


@pytest.mark.parametrize(
    "payload",
    [
        {"chargeToPercent": "9" * 5000},
        {"chargeToPercent": 10**4000},
        {"chargeToPercent": "x" * 100_000},
        {"chargeToPercent": [1] * 10_000},
        {"k" * 100_000: 1},
    ],
)
def test_a_huge_value_is_refused_without_being_echoed(payload):
    error = rejected("setChargeTarget", payload)
    body = error.as_dict()
    assert len(body["error"]) < 200
    assert len(body["field"]) <= 40


@pytest.mark.parametrize(
    ("function", "payload", "field"),
    [
        ("setChargeRate", {"chargeRate": "abc"}, "chargeRate"),
        ("setChargeRate", {}, "chargeRate"),
        ("setChargeRate", [], "payload"),
        ("setChargeRate", {"chargeRate": "-5"}, "chargeRate"),
        ("setDischargeRate", {"dischargeRate": True}, "dischargeRate"),
        ("setDischargeRate", {"dischargeRate": 1, "x": 2}, "x"),
    ],
)
def test_rate_payloads_are_checked_without_a_context(function, payload, field):
    assert rejected(function, payload, None).field == field


def test_a_good_rate_payload_without_a_context_asks_for_one():
    with pytest.raises(C.ContextNeeded):
        plan_writes("setChargeRate", {"chargeRate": "1000"}, None)
