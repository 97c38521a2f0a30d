"""The `sim` and `pynq` backends: the same Driver over the Verilated RTL or over a PYNQ board."""
from __future__ import annotations

import os
from pathlib import Path

from beamstream.driver import Driver
from beamstream.hw.interface import CoreConfig

from .base import StepResult

BITSTREAMS = Path(__file__).resolve().parents[2] / "bitstreams"
BOARDS = ("pynq-z2", "zcu104", "kv260")
BITSTREAM_ENV = "BEAMSTREAM_BITSTREAM"   # a .bit (with its .hwh) to load instead of bitstreams/<board>/
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

    @property
    def last_cycles(self) -> int:
        """Fabric cycles of the last step (the core's CYCLES register)."""
        return self.driver.last_cycles

    def close(self) -> None:
        self.driver.transport.close()


class SimBackend(DriverBackend):
    """The Verilated RTL of `config` (built on first use, then cached) as a backend."""

    def __init__(self, config: CoreConfig | None = None):
        from beamstream.transports.sim import SimTransport
        config = CoreConfig() if config is None else config
        if not isinstance(config, CoreConfig):
            raise ValueError(f"config must be a CoreConfig, got {config!r}")
        super().__init__(Driver(SimTransport(config)), "sim")


def detect_board() -> str | None:
    """This PYNQ board's name as bitstreams/ spells it, or None when not on a known PYNQ board."""
    return _PYNQ_BOARD_NAMES.get(os.environ.get("BOARD", "").strip().lower())


def default_bitstream(board: str) -> Path:
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; bitstreams are built for {', '.join(BOARDS)}")
    return BITSTREAMS / board / "beamstream.bit"


class PynqBackend(DriverBackend):
    """The core in a PYNQ overlay: `bitstream` (a .bit with its .hwh), else $BEAMSTREAM_BITSTREAM, else
    bitstreams/<board>/beamstream.bit.

    `pynq` replaces the pynq module (tests pass beamstream.transports.pynq_standin.PynqStandIn).
    """

    def __init__(self, board: str | None = None, bitstream=None, *, pynq=None):
        from beamstream.transports.pynq import PynqTransport
        bitstream = bitstream or os.environ.get(BITSTREAM_ENV) or None
        if bitstream is None:
            board = board or detect_board()
            if board is None:
                raise ValueError("no board given and none detected (PYNQ images set BOARD); "
                                 f"pass board= one of {', '.join(BOARDS)} or bitstream=")
            bitstream = default_bitstream(board)
            if not bitstream.exists():
                raise FileNotFoundError(f"no bitstream at {bitstream}: build it with 'make bitstream BOARD={board}' "
                                        "(Vivado 2023.2) and copy bitstreams/ to the board, or pass bitstream=")
        self.board = board
        super().__init__(Driver(PynqTransport(bitstream, pynq=pynq)), "pynq")
