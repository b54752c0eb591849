"""GivEnergy dongle codec: frames, register map, decoded model, write commands.

The package import is deliberately light (no pymodbus, no sockets): read.py pays for every
import on every cron call. Import submodules directly.
"""
