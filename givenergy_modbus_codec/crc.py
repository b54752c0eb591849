"""CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF, no final xor).

pymodbus has the same algorithm (``pymodbus.framer.FramerRTU.compute_CRC``), but importing any
part of pymodbus costs ~80 ms of start-up, paid by every cron call of read.py. The table below
is the same standard CRC; tests/codec/test_crc.py checks it against pymodbus' implementation.
"""

from __future__ import annotations


def _build_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _build_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS of ``data``; on the GivEnergy wire it is sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc
