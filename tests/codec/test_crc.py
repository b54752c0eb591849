"""CRC-16/MODBUS: the worked examples of protocol.md §4, and agreement with pymodbus.

crc.py keeps its own table so that read.py does not pay pymodbus' import cost; these tests are
what makes that copy safe.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from givenergy_modbus_codec.crc import crc16_modbus

E3_RESPONSE = bytes.fromhex(
    "59590001009e010257463231323547333136000000000000008a1103534132313134473034370000003c"
    "20010003083202010000c3500e10000142473231333447303037534132313134473034370bbf01c10001"
    "01c1000200008000761b17700001000000000011000000040007008c00170004001c000c000f00240001"
    "000300000000000000650001000000000064000000000001000100a00000000000010000251c"
)


@pytest.mark.parametrize(
    ("covered", "crc", "wire"),
    [
        ("11 03 00 00 00 3c", 0x4B47, "474b"),
        ("11 04 00 00 00 3c", 0x8BF2, "f28b"),
        ("01 16 00 3c 00 3c", 0x1488, "8814"),
        ("11 06 00 60 00 01", 0x844A, "4a84"),
    ],
)
def test_protocol_crc_table(covered: str, crc: int, wire: str) -> None:
    data = bytes.fromhex(covered)
    assert crc16_modbus(data) == crc
    assert struct.pack("<H", crc16_modbus(data)).hex() == wire


def test_crc_of_e3_response_body() -> None:
    """The CRC spans device address .. last value (offset 26 up to the CRC), low byte first."""
    assert crc16_modbus(E3_RESPONSE[26:-2]) == 0x1C25
    assert E3_RESPONSE[-2:] == bytes.fromhex("251c")


def test_standard_check_value() -> None:
    """The catalogue check value of CRC-16/MODBUS."""
    assert crc16_modbus(b"123456789") == 0x4B37


def test_empty_input_is_the_initial_value() -> None:
    assert crc16_modbus(b"") == 0xFFFF


@given(st.binary(max_size=400))
def test_matches_pymodbus_rtu_crc(data: bytes) -> None:
    """pymodbus returns the CRC byte-swapped, i.e. as the big-endian reading of the wire bytes."""
    from pymodbus.framer import FramerRTU

    assert struct.pack("<H", crc16_modbus(data)) == FramerRTU.compute_CRC(data).to_bytes(2, "big")


@given(st.binary(max_size=400))
def test_residue_of_data_plus_crc_is_zero(data: bytes) -> None:
    """Appending the CRC low byte first gives a zero CRC: the property RTU receivers rely on."""
    assert crc16_modbus(data + struct.pack("<H", crc16_modbus(data))) == 0
