"""A simulated GivEnergy WiFi dongle + single-phase inverter + LV batteries, for tests and demos.

Run it: ``python3 -m givenergy_modbus_codec.simulator --help``. In tests::

    from givenergy_modbus_codec.simulator import Simulator, SimulatorConfig
    with Simulator(SimulatorConfig(seed=1, speed=0.0)) as sim:
        ...talk to 127.0.0.1:sim.port, compare with sim.truth()...

Modules: ``models`` (inverter profiles), ``plant`` (physics and register values), ``device``
(addressing, errors, silence, writes), ``faults``, ``server`` (TCP, fan-out, heartbeats),
``control`` (HTTP endpoint), ``runner`` (the Simulator API), ``replay`` (a captured plant
served instead of the model: ``SimulatorConfig(replay=FILE)``).
"""

from .faults import Faults
from .models import MODELS
from .runner import Simulator, SimulatorConfig
from .server import RequestRecord

__all__ = ["MODELS", "Faults", "RequestRecord", "Simulator", "SimulatorConfig"]
