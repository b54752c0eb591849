"""A structural guard on read.py's start-up: cron starts it afresh every minute, so the read
path must not import what it does not need (benchmarks/README.md measures the time; this only
checks which modules are loaded, so it does not depend on the machine's speed).

- dataclasses (with inspect, ast, tokenize: ~20 ms, plus ~1 ms per class): NamedTuples and
  ``givenergy_modbus_codec.records.Record`` instead;
- argparse (~10 ms): read.py parses ``FUNCTION [-v]`` by hand, argparse only for --help/errors;
- tempfile (~4 ms): the lock and state files find the temporary directory themselves;
- pathlib (with urllib.parse, ipaddress, fnmatch: ~4 ms): state and lock paths are strings;
- encodings.idna (~2 ms): an ASCII inverter address goes to getaddrinfo as bytes;
- commands.py: the write planners; the read path needs only InverterContext (model.py);
- the sinks' and the adapter's libraries: imported only when that output is enabled.

And no NamedTuple on the read path has a string annotation (``from __future__ import
annotations``): typing compiles each one, and the first compile() initialises the ast types,
together ~4 ms.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import typing

import pytest

from givenergy_modbus_codec.frames import Function
from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
from tests.conftest import PROJECT_ROOT
from tests.scripts import sim_env

NOT_ON_THE_READ_PATH = (
    "dataclasses",
    "argparse",
    "tempfile",
    "pathlib",
    "encodings.idna",
    "inspect",
    "givenergy_modbus_codec.commands",
    "pymodbus",
    "paho",
    "influxdb_client",
    "requests",
    "flask",
)

# The modules read.py imports that define NamedTuples.
NAMED_TUPLE_MODULES = (
    "givenergy_modbus_codec.frames",
    "givenergy_modbus_codec.registers",
    "givenergy_modbus_codec.transport",
    "givenergy_modbus_codec.reader",
    "givenergy_modbus_codec.model",
    "givtcp.config",
    "givtcp.report",
    "givtcp.reading",
    "givenergy_modbus_codec.manifest",
    "givenergy_modbus_codec.families.base",
    "givenergy_modbus_codec.hv_stack",
    "givtcp.detection",
    "outputs",
)

_PRINT_MODULES = "import json, sys; print(json.dumps(sorted(sys.modules)))"


def loaded_modules(code: str, env: dict[str, str] | None = None) -> list[str]:
    """The modules a fresh interpreter has loaded after running ``code`` from the project root
    (``code`` ends by printing them as JSON on the last line of stdout)."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    base["GIVTCP_SETTINGS"] = str(PROJECT_ROOT / "settings_template.py")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def unwanted(modules: list[str]) -> list[str]:
    return [
        name
        for name in modules
        if any(name == banned or name.startswith(banned + ".") for banned in NOT_ON_THE_READ_PATH)
    ]


def test_importing_the_read_path_loads_none_of_the_heavy_modules():
    modules = loaded_modules(
        f"import givtcp.reading, outputs.json_sink, givtcp.logs\n{_PRINT_MODULES}"
    )
    assert "givtcp.reading" in modules
    assert unwanted(modules) == []


def test_importing_read_py_loads_none_of_the_heavy_modules():
    modules = loaded_modules(f"import read\n{_PRINT_MODULES}")
    assert "read" in modules
    assert unwanted(modules) == []


@pytest.mark.parametrize("args", [["runAll"], ["getTimeslots", "-v"], ["--verbose", "runALL"]])
def test_a_whole_json_read_loads_none_of_the_heavy_modules(tmp_path, args):
    """read.py's main as cron runs it, against the simulator, JSON output only."""
    config = SimulatorConfig(
        seed=3, speed=0.0, start_time=dt.datetime(2026, 6, 21, 12), batteries=1
    )
    with Simulator(config) as sim:
        code = (
            "import sys, read\n"
            f"code = read.main({args!r})\n"
            "assert code == 0, code\n"
            f"{_PRINT_MODULES}"
        )
        modules = loaded_modules(code, sim_env(sim.port, tmp_path, REQUEST_SPACING="0"))
    assert {"givtcp.reading", "outputs.json_sink"} <= set(modules)
    assert unwanted(modules) == []


def test_help_still_uses_argparse():
    """The guard above is about the usual run; --help is allowed to pay for argparse."""
    code = (
        "import contextlib, io, read\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    read.main(['--help'])\n"
        f"{_PRINT_MODULES}"
    )
    assert "argparse" in loaded_modules(code)


def test_read_path_named_tuples_have_no_string_annotations():
    checked = []
    for module_name in NAMED_TUPLE_MODULES:
        module = importlib.import_module(module_name)
        for obj in vars(module).values():
            if not (
                isinstance(obj, type)
                and issubclass(obj, tuple)
                and hasattr(obj, "_fields")
                and obj.__module__ == module_name
            ):
                continue
            checked.append(obj.__qualname__)
            for field, annotation in obj.__annotations__.items():
                assert not isinstance(annotation, str | typing.ForwardRef), (
                    f"{module_name}.{obj.__qualname__}.{field}: {annotation!r}"
                )
    assert {"ReadRequest", "Register", "Settings", "Publication"} <= set(checked)


def test_the_first_request_goes_out_before_the_decoder_and_report_load(tmp_path):
    """read.py sends its first bank, then imports the rest while the dongle answers: at a real
    dongle's latency those imports then cost no wall time (benchmarks/README.md)."""
    config = SimulatorConfig(seed=3, speed=0.0, start_time=dt.datetime(2026, 6, 21, 12))
    with Simulator(config) as sim:
        code = (
            "import sys\n"
            "from givenergy_modbus_codec.transport import DongleClient\n"
            "at_send = []\n"
            "send_ahead = DongleClient.send_ahead\n"
            "def spy(self, request):\n"
            "    at_send.append(sorted(sys.modules))\n"
            "    send_ahead(self, request)\n"
            "DongleClient.send_ahead = spy\n"
            "import read\n"
            "assert read.main(['runAll']) == 0\n"
            "import json; print(json.dumps(at_send[0]))\n"
        )
        at_send = loaded_modules(code, sim_env(sim.port, tmp_path, REQUEST_SPACING="0"))
        first = sim.requests[0].frame
    assert (first.function, first.base, first.count) == (Function.READ_HOLDING, 0, 60)
    late = ("givtcp.reading", "givtcp.report", "givenergy_modbus_codec.model", "outputs")
    assert [name for name in late if name in at_send] == []
    assert "givenergy_modbus_codec.registers" not in at_send
