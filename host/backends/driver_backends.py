"""The `sim` and `pynq` backends: the same Driver over the Verilated RTL or over a PYNQ board."""
from __future__ import annotations

import os

from beamstream.driver import Driver
from beamstream.hw.interface import CoreConfig
from beamstream.paths import find_bitstream

from .base import RowsResult, StepResult

# PYNQ images name their board in the BOARD environment variable (e.g. "Pynq-Z2", "ZCU104", "KV260").
_PYNQ_BOARD_NAMES = {"pynq-z2": "pynq-z2", "zcu104": "zcu104", "kv260": "kv260"}


class DriverBackend:
    """A Backend whose steps run on a core through `driver`."""

    def __init__(self, driver: Driver, name: str):
        self.driver = driver
        self.name = name
        self.config = driver.core_config()   # the core's build, as its registers describe it
        self.max_k = self.config.k_max
        self.formats = (self.config.fmt,)

    def __repr__(self):
        return f"{type(self).__name__}({self.config})"

    def step(self, logits, beam_scores, k) -> StepResult:
        return self.driver.step(logits, beam_scores, k)

    def step_rows(self, logits, beam_scores, k) -> RowsResult:
        """Each row's k best in one transfer (the core's per-row mode)."""
        return self.driver.step_rows(logits, beam_scores, k)

    @property
    def last_cycles(self) -> int:
        """Fabric cycles of the last step (the core's CYCLES register)."""
        return self.driver.last_cycles

    def close(self) -> None:
        self.driver.transport.close()


class SimBackend(DriverBackend):
    """The Verilated RTL of `config` (built on first use, then cached) as a backend."""

    def __init__(self, config: CoreConfig | None = None):
        try:
            from beamstream.transports.sim import SimTransport
        except ModuleNotFoundError as exc:      # amaranth, which builds the RTL: the [sim] extra (not on a board)
            raise RuntimeError(f"the sim backend needs the simulation extras ({exc.name} is not installed): "
                               "pip install 'beamstream[sim]'") from exc
        config = CoreConfig() if config is None else config
        if not isinstance(config, CoreConfig):
            raise ValueError(f"config must be a CoreConfig, got {config!r}")
        super().__init__(Driver(SimTransport(config)), "sim")


def detect_board() -> str | None:
    """This PYNQ board's name as bitstreams/ spells it, or None when not on a known PYNQ board."""
    return _PYNQ_BOARD_NAMES.get(os.environ.get("BOARD", "").strip().lower())


class PynqBackend(DriverBackend):
    """The core in a PYNQ overlay: `bitstream` (a .bit with its .hwh beside it), else the one
    `beamstream.paths.find_bitstream` finds for `board` (default: the board PYNQ names in $BOARD).

    `pynq` replaces the pynq module (tests pass beamstream.transports.pynq_standin.PynqStandIn).
    """

    def __init__(self, board: str | None = None, bitstream=None, *, pynq=None):
        from beamstream.transports.pynq import PynqTransport
        board = board or detect_board()
        bitstream = find_bitstream(board, bitstream)
        self.board = board
        try:
            transport = PynqTransport(bitstream, pynq=pynq)
        except ImportError as exc:              # no pynq module: its text says where to get it
            raise RuntimeError(str(exc)) from exc
        super().__init__(Driver(transport), "pynq")
