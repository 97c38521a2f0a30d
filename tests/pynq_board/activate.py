"""FOR TESTS ONLY: make a `SimulatedBoard` pynq's active device, as BEAMSTREAM_SIMULATED_BOARD describes it.

The test venvs import this module at interpreter start when that variable is set (a .pth line), so a script, a
Jupyter kernel running the notebook, or anything else using pynq finds the simulated board the way board code
finds a real one: through `pynq.Device.active_device`. The variable holds JSON: {"library": the Verilated core's
shared library, "config": its CoreConfig as a dict}.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from beamstream.hw.interface import CoreConfig
from beamstream.transports.verilated import VerilatedDevice

from .board import SimulatedBoard, install
from .overlay import CORE_BASE, DMA_BASE

ENV = "BEAMSTREAM_SIMULATED_BOARD"


def activate(description: dict) -> SimulatedBoard:
    core = VerilatedDevice(CoreConfig(**description["config"]), library=Path(description["library"]))
    board = SimulatedBoard(core, dma_base=DMA_BASE, core_base=CORE_BASE)
    install(board)
    return board


board = activate(json.loads(os.environ[ENV])) if os.environ.get(ENV) else None
