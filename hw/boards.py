"""The boards a bitstream is built for: part, PS, HP port width, the stated fabric clock and the default build.

Plain Python (no Amaranth import). One table, read by the Vivado flow (`make bitstream`, through
`python -m beamstream.hw.boards BOARD`, which prints the board's make variables) and by the report's latency
projection (host/report/bandwidth.py): the clock a board's bitstream is built at and the clock the report projects
for it are the same number, `clock_mhz`.

Each default build streams exactly one HP port's width per beat: a wider stream only waits on the port (P = 4
fp32 is 128 bits, half rate on the PYNQ-Z2's 64-bit HP port), a narrower one leaves bandwidth unused.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from .interface import LANE_WIDTH, CoreConfig


@dataclass(frozen=True)
class Board:
    name: str            # as bitstreams/ and `make bitstream BOARD=` spell it
    part: str
    board_part: str      # Vivado board part without its version (any installed version is used)
    ps: str              # "zynq" (processing_system7) or "zynqmp" (zynq_ultra_ps_e)
    hp_bits: int         # PL-side data width of the HP port the DMA uses
    clock_mhz: float     # the fabric clock: built at, projected at
    lanes: int           # default build: lanes x lane width = hp_bits
    fmt: str

    def default_config(self, **changes) -> CoreConfig:
        return CoreConfig(**{"lanes": self.lanes, "fmt": self.fmt, **changes})


BOARDS = {
    # 64-bit S_AXI_HP0 (UG585); 100 MHz: PYNQ's usual FCLK0, below the ~130 MHz the report estimates for the
    # default build's logic depth on the -1 part.
    "pynq-z2": Board("pynq-z2", "xc7z020clg400-1", "tul.com.tw:pynq-z2:part0", "zynq", 64, 100.0, 2, "fp32"),
    # 128-bit S_AXI_HP0_FPD (UG1085); 200 MHz: the report's estimate for the default build's logic depth.
    "zcu104": Board("zcu104", "xczu7ev-ffvc1156-2-e", "xilinx.com:zcu104:part0", "zynqmp", 128, 200.0, 4, "fp32"),
    "kv260": Board("kv260", "xck26-sfvc784-2LV-c", "xilinx.com:kv260_som:part0", "zynqmp", 128, 200.0, 4, "fp32"),
}
assert all(b.lanes * LANE_WIDTH[b.fmt] == b.hp_bits for b in BOARDS.values())


def board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known: {', '.join(BOARDS)}") from None


def make_variables(name: str) -> str:
    """The board's defaults as make assignments that a make command line overrides (bitstreams/Makefile)."""
    b, cfg = board(name), board(name).default_config()
    return "".join(f"{key} ?= {value}\n" for key, value in (
        ("PART", b.part), ("BOARD_PART", b.board_part), ("PS", b.ps), ("HP_BITS", b.hp_bits),
        ("CLOCK_MHZ", f"{b.clock_mhz:g}"), ("LANES", cfg.lanes), ("K_MAX", cfg.k_max), ("FORMAT", cfg.fmt)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python -m beamstream.hw.boards BOARD   (one of {', '.join(BOARDS)})")
    try:
        sys.stdout.write(make_variables(sys.argv[1]))
    except ValueError as exc:
        sys.exit(f"bitstreams: {exc}")
