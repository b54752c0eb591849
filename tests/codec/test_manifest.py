"""The manifest: one family per device type code, refused where this version cannot read it."""

from __future__ import annotations

import pytest

from givenergy_modbus_codec import manifest, reader
from givenergy_modbus_codec.errors import NoValidData, UnsupportedModel

# families.md §1.1, by hand: code -> (family key, read by this version?)
CODES = {
    "2001": ("hybrid", True),
    "2003": ("hybrid", True),
    "2101": ("hybrid", True),
    "2201": ("hybrid", True),
    "2301": ("pv", False),
    "3001": ("ac", True),
    "3002": ("ac", True),
    "4004": ("three_phase", True),
    "4101": ("three_phase_commercial", False),
    "5001": ("ems", True),
    "5101": ("ems_commercial", False),
    "6001": ("three_phase_ac", False),
    "7001": ("gateway", True),
    "8001": ("aio", True),
    "8102": ("hv_gen3", True),
    "8201": ("aio_hybrid", False),
    "8301": ("gen4", False),
}


@pytest.mark.parametrize(("code", "expected"), CODES.items())
def test_each_code_resolves_to_its_family(code, expected):
    family = manifest.resolve(code)
    assert family is not None
    assert (family.key, family.supported) == expected


@pytest.mark.parametrize("code", ["1001", "2401", "9999", "0000", "", None])
def test_codes_nobody_knows_resolve_to_none(code):
    assert manifest.resolve(code) is None


def test_refusal_names_the_code_and_model():
    with pytest.raises(UnsupportedModel) as raised:
        manifest.require_supported("6001")
    assert str(raised.value) == (
        "inverter model 6001 (Three-phase AC) is not supported by this version"
    )
    assert isinstance(raised.value, NoValidData)  # exit 1, MQTT offline
    with pytest.raises(UnsupportedModel, match=r"^inverter model 9999 \(unknown model\) is not"):
        manifest.require_supported("9999")
    assert manifest.require_supported("8001").key == "aio"


def test_refused_families_plan_nothing_beyond_identity():
    for family in manifest.FAMILIES:
        if not family.supported:
            for function in reader.READ_FUNCTION_BANKS:
                assert [p.bank for p in family.plan(function)] == [reader.HR_0]


def test_single_phase_plan_is_the_readers_bank_plan():
    """reader.READ_FUNCTION_BANKS (what read.py sends first, the docs) is the hybrid plan."""
    for function, banks in reader.READ_FUNCTION_BANKS.items():
        for key in ("hybrid", "aio", "hv_gen3"):
            planned = manifest.BY_KEY[key].plan(function)
            assert tuple(p.bank for p in planned) == banks, (key, function)
            assert planned[0].bank == reader.HR_0


def test_ac_plan_falls_back_to_the_0x31_facade():
    planned = {p.label: p for p in manifest.AC.plan("runAll")}
    assert planned["HR(60,60)@0x11"].fallbacks == (0x31,)
    assert planned["IR(180,60)@0x11"].optional
    assert manifest.plan_devices(planned["HR(60,60)@0x11"]) == (0x11, 0x31)


@pytest.mark.parametrize(
    ("code", "battery", "voltage"),
    [("2001", "lv", 51.2), ("3001", "lv", 51.2), ("8001", "hv", 307.0), ("8102", "hv", 307.0)],
)
def test_battery_kind_and_voltage(code, battery, voltage):
    family = manifest.resolve(code)
    assert (family.battery, family.battery_voltage) == (battery, voltage)


def test_docs_have_one_section_per_family_map():
    from givenergy_modbus_codec.registers import render_markdown

    text = render_markdown()
    assert "## Model families" in text
    for title in ("All-in-One (80xx)", "HV Gen3 hybrid (81xx)"):
        assert f"## {title}: differences from the single-phase map" in text
    assert "| Three-phase AC | 60xx | refused |" in text
    assert "## Three-phase hybrid (40xx): its own map" in text
    assert "## HV stack BCU IR 60–179 at 0x70 + stack" in text
    # AIO: IR50 is bounded for an HV stack (families.md §2.1), not 0..70 V.
    assert "| 50 | `v_battery` | u16 | /100 | V |  | 0..600 |" in text
