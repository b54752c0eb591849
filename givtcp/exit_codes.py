"""Exit codes of read.py and write.py (README "Exit codes"; Node-RED and cron users route on
them). A module of its own so that read.py can answer a usage error without loading the rest."""

OK = 0
INVERTER = 1  # inverter unreachable or no valid answer
USAGE = 2  # bad usage, payload or setting: nothing was sent
OUTPUT = 3  # data read but an output failed
WRITE_UNCONFIRMED = 4  # a write was sent but did not read back as asked
