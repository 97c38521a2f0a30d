"""`SimTransport`: the Verilated RTL (beamstream.transports.verilated) as a transport, for the `sim` backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from beamstream.hw.interface import CoreConfig, Reg

from .base import Transport
from .verilated import VerilatedDevice


class SimTransport(Transport):
    name = "sim"

    def __init__(self, config: CoreConfig | None = None, *, verilog: Path | None = None, library: Path | None = None):
        config = config or CoreConfig()
        self.device = VerilatedDevice(config, verilog, library=library)
        # A cached library answers for the build it was made from: its registers must describe `config` exactly.
        build = [self.read(reg) for reg in (Reg.CONFIG, Reg.VOCAB_MAX, Reg.WIDTHS)]
        try:
            found = CoreConfig.from_registers(*build)
        except ValueError as exc:
            found = exc
        if found != config:
            self.close()
            raise RuntimeError(f"the simulated core at {self.device.library} describes itself as {found} "
                               f"(CONFIG, VOCAB_MAX, WIDTHS = {', '.join(hex(v) for v in build)}), not {config}")

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
