"""DMA bandwidth per board and the projected latency of one step (the larger of compute and transfer time).

A step is one MM2S transfer of `BEAMS x (header + ceil(V/P))` beats of P lanes (docs/interface.md §2) and one
S2MM transfer of K 64-bit results. The DMA's stream runs on the core's clock, so a beat per cycle is the stream's ceiling; the
PS high-performance (HP) port and the DDR behind it can be lower. Sources of every figure are in docs/report.md.
"""
from __future__ import annotations

from dataclasses import dataclass

from beamstream.hw.boards import BOARDS as BITSTREAM_BOARDS
from beamstream.hw.interface import CoreConfig

from .yosys import TIMING

RESULT_BYTES = 8  # one m_axis beat: score, beam, token


@dataclass(frozen=True)
class Board:
    name: str
    family: str            # Yosys family whose logic-depth Fmax model applies
    device: str
    clock_cap_mhz: float   # fabric clock the AXI DMA path is characterised for on this part
    hp_bits: int           # PL-side data width of one HP port
    hp_mhz: float          # its clock
    ddr_mb_s: float        # peak PS DDR bandwidth x controller efficiency
    sources: str
    bitstream_board: str   # its name in beamstream.hw.boards, which states the clock its bitstream is built at

    @property
    def clock_mhz(self) -> float:
        """The fabric clock `make bitstream` builds this board at: the one the projection uses."""
        return BITSTREAM_BOARDS[self.bitstream_board].clock_mhz

    @property
    def hp_mb_s(self) -> float:
        return self.hp_bits / 8 * self.hp_mhz


DDR_EFFICIENCY = 0.75  # UG585 §22.3.2: the PS DDR controller was designed for at most about 75 %

BOARDS = {
    "PYNQ-Z2": Board(
        "PYNQ-Z2", "xc7", "xc7z020clg400-1", clock_cap_mhz=150.0, hp_bits=64, hp_mhz=150.0,
        ddr_mb_s=16 / 8 * 1050 * DDR_EFFICIENCY,
        sources="HP port 64-bit, 1,200 MB/s theoretical (UG585 ch. 5); AXI DataMover/DMA AXI4-Stream Fmax "
                "150 MHz on Artix-7-class -1 fabric (PG022); DDR3 16-bit at 1050 MT/s (PYNQ-Z1/Z2 reference manuals)",
        bitstream_board="pynq-z2"),
    "ZCU104": Board(
        "ZCU104", "xcup", "xczu7ev-ffvc1156-2", clock_cap_mhz=300.0, hp_bits=128, hp_mhz=333.0,
        ddr_mb_s=64 / 8 * 2400 * DDR_EFFICIENCY,
        sources="S_AXI_HP*_FPD 128-bit PL side (UG1085 ch. 35) at 333 MHz (DS925 PS-PL interface limit); "
                "300 MHz typical AXI IP clock on UltraScale+ (PG278); PS DDR4 64-bit at 2400 MT/s (UG1267)",
        bitstream_board="zcu104"),
    "KV260": Board(
        "KV260", "xcup", "xck26-sfvc784-2LV", clock_cap_mhz=300.0, hp_bits=128, hp_mhz=333.0,
        ddr_mb_s=64 / 8 * 2400 * DDR_EFFICIENCY,
        sources="same PS as ZCU104 (UG1085, DS925); K26 SOM DDR4 64-bit at 2400 MT/s (DS987)",
        bitstream_board="kv260"),
}


@dataclass(frozen=True)
class StepBytes:
    to_core: int    # MM2S: header beats and padded rows
    from_core: int  # S2MM: K results


def step_bytes(cfg: CoreConfig, beams: int, vocab: int, k: int) -> StepBytes:
    """Bytes moved by one step of `beams` rows over `vocab` tokens asking for `k` results."""
    for name, value, top in (("beams", beams, cfg.beams_max), ("vocab", vocab, cfg.vocab_max), ("k", k, cfg.k_max)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValueError(f"{name}={value!r} must be an int in 1..{top} for {cfg.slug()}")
    return StepBytes(to_core=beams * cfg.beats_per_row(vocab) * cfg.beat_bits // 8, from_core=k * RESULT_BYTES)


def clock_mhz(board: Board, levels: int | None = None) -> float:
    """The core's clock on `board`: the stated clock its bitstream is built at (beamstream.hw.boards)."""
    return board.clock_mhz


def fmax_estimate_mhz(board: Board, levels: int | None) -> float:
    """What the logic depth allows on `board`: its Fmax estimate, capped by the DMA path's clock."""
    if levels is None:
        return board.clock_cap_mhz
    return min(board.clock_cap_mhz, TIMING[board.family].fmax_mhz(levels))


def bandwidth_mb_s(board: Board, stream_bits: int, clock: float) -> tuple[float, str]:
    """Sustained MB/s of one DMA direction and what limits it (stream, HP port or DDR)."""
    limits = {"stream": stream_bits / 8 * clock, "HP port": board.hp_mb_s, "DDR": board.ddr_mb_s}
    name = min(limits, key=limits.get)
    return limits[name], name


@dataclass(frozen=True)
class Projection:
    board: str
    clock_mhz: float
    compute_us: float
    transfer_us: float
    limiter: str      # what bounds the input bandwidth

    @property
    def latency_us(self) -> float:
        return max(self.compute_us, self.transfer_us)

    @property
    def bound(self) -> str:
        return "transfer" if self.transfer_us > self.compute_us else "compute"


def project(board: Board, cfg: CoreConfig, cycles: int, nbytes: StepBytes, clock: float) -> Projection:
    """Step latency on `board`: compute = cycles / clock, transfer = bytes over the DMA bandwidth model."""
    if cycles < 0 or clock <= 0:
        raise ValueError(f"cycles must be >= 0 and clock > 0, got {cycles}, {clock}")
    bw_in, limiter = bandwidth_mb_s(board, cfg.beat_bits, clock)
    bw_out, _ = bandwidth_mb_s(board, 8 * RESULT_BYTES, clock)
    transfer_us = nbytes.to_core / bw_in + nbytes.from_core / bw_out  # bytes / (MB/s) = us
    return Projection(board.name, clock, cycles / clock, transfer_us, limiter)
