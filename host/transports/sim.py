"""`SimTransport`: the Verilated RTL (beamstream.transports.verilated) as a transport, for the `sim` backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from beamstream.hw.config import CoreConfig

from .base import Transport
from .verilated import VerilatedDevice


class SimTransport(Transport):
    name = "sim"

    def __init__(self, config: CoreConfig | None = None, *, verilog: Path | None = None, library: Path | None = None):
        self.device = VerilatedDevice(config or CoreConfig(), verilog, library=library)

    def read(self, offset: int) -> int:
        return self.device.read(offset)

    def write(self, offset: int, value: int) -> None:
        self.device.write(offset, value)

    def allocate(self, shape, dtype) -> np.ndarray:
        return np.zeros(shape, dtype)

    def run_step(self, send: np.ndarray, recv: np.ndarray) -> int:
        report = self.device.run_step(send, recv)
        beats = send.nbytes // self.device.beat_bytes
        if report.beats_sent != beats:
            raise RuntimeError(f"the simulated core stopped accepting input after {report.beats_sent} of {beats} "
                               f"beats ({report.cycles} cycles without progress)")
        return report.beats_received

    def close(self) -> None:
        self.device.close()
