"""Control/Mode decoded from hand-set HR110, HR27, HR59, against registers.md §10.2's table."""

from __future__ import annotations

import pytest

from givenergy_modbus_codec.model import decode_inverter
from givtcp import report
from tests.conftest import load_vectors


def _real_holding() -> tuple[dict[int, int], dict[int, int]]:
    cache = next(
        v
        for v in load_vectors("dewet22_register_caches.json")["vectors"]
        if v["id"] == "json_inverter_daytime_discharging_with_solar_generation"
    )
    regs = cache["registers"]
    holding = {int(k[3:]): v for k, v in regs.items() if k.startswith("HR:")}
    inputs = {int(k[3:]): v for k, v in regs.items() if k.startswith("IR:")}
    return holding, inputs


@pytest.mark.parametrize(
    ("hr110", "hr27", "hr59", "mode"),
    [
        # registers.md §10.2 "Mode decode": Mode | HR110 | HR27 | HR59
        (4, 1, 0, 1),
        (100, 1, 1, 3),
        (4, 0, 1, 4),
        (4, 1, 1, 5),
        # anything else is "unknown" (mode 2 reads back as 3, other reserves match no row)
        (20, 1, 0, "unknown"),
        (100, 0, 0, "unknown"),
    ],
)
def test_mode_follows_the_reference_table(hr110, hr27, hr59, mode):
    holding, inputs = _real_holding()
    holding.update({110: hr110, 27: hr27, 59: hr59})
    inverter = decode_inverter(holding, inputs)
    groups, _ = report.build_groups(report.control_entries(), inverter.values, inverter.invalid)
    assert groups["Control"]["Mode"] == mode
