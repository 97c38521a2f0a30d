"""The same token with its step on a board's fabric: the measured step replaced by the report's projection.

The board's step time is `beamstream report`'s model, reused as it is: cycles from the fitted formula (or, with
no report given, the timing bound of docs/interface.md §5), the clock each board's bitstream is built at
(beamstream.hw.boards), transfer from the wire format's bytes over the board's DMA bandwidth (bandwidth.py).
The host still converts and packs the logits into the DMA buffer, so that is measured here (`hwmodel.core.pack_step`) and added. The rest
of the token is as measured. `token / (token - step)` is the Amdahl bound: the speed-up if the step cost nothing.
"""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from beamstream.hw.interface import CoreConfig
from beamstream.hwmodel.core import pack_step, step_buffer
from beamstream.report import bandwidth, cycles
from beamstream.report.sweep import K_MAX

FORMATS = ("fp32", "bf16", "fp16")
# 128-bit beats for every format, like the report's latency builds: 4 fp32 lanes, 8 lanes of a 16-bit format.
WIRE_LANES = {"fp32": 4, "bf16": 8, "fp16": 8}


def wire_config(fmt: str, k: int) -> CoreConfig:
    """The build a step of `k` results in format `fmt` runs on: the default K_MAX when k fits, else the next."""
    if fmt not in WIRE_LANES:
        raise ValueError(f"wire format must be one of {', '.join(WIRE_LANES)}, got {fmt!r}")
    default = CoreConfig()
    k_max = default.k_max if k <= default.k_max else next((kk for kk in K_MAX if kk >= k), None)
    if k_max is None:
        raise ValueError(f"k={k} exceeds the largest K_MAX the report sweeps ({K_MAX[-1]})")
    return CoreConfig(lanes=WIRE_LANES[fmt], k_max=k_max, fmt=fmt)


@dataclass(frozen=True)
class ClockBasis:
    """What the board projection rests on: logic depth for the clock and the cycle formula, with their source."""
    levels: int | None
    cycle_model: cycles.CycleModel | None
    note: str

    def step_cycles(self, cfg: CoreConfig, beams: int, vocab: int) -> int:
        if self.cycle_model is not None:
            return self.cycle_model.predict(cfg, beams, vocab)
        return cycles.design_bound(cfg, beams, vocab)


NO_REPORT = ClockBasis(None, None, "no report given: cycles from the timing bound of docs/interface.md §5, each "
                                   "board at its bitstream's stated clock (pass --report report/results.json)")


def basis_from_report(path) -> ClockBasis:
    """Depth and cycle formula from a `beamstream report` results.json: the deepest top level synthesised
    (the clock of every build), and the formula refitted to its simulated steps."""
    data = json.loads(Path(path).read_text())
    tops = [(e["levels"], e["slug"]) for e in data.get("top", []) if e.get("status") == "ok"]
    samples = [(CoreConfig(**e["config"]), p) for e in data.get("sim", []) if e.get("status") == "ok"
               for p in e["cycles"]]
    model = cycles.fit(samples) if samples else None
    levels, slug = max(tops) if tops else (None, None)
    note = (f"from {path}: {levels} LUT levels (top level {slug}), " if levels is not None else
            f"from {path}: no top level synthesised, ")
    note += model.describe() if model else "cycles from the timing bound of docs/interface.md §5 (no simulated steps)"
    return ClockBasis(levels, model, note)


def project_step(board: bandwidth.Board, fmt: str, beams: int, vocab: int, k: int,
                 basis: ClockBasis) -> bandwidth.Projection:
    cfg = wire_config(fmt, k)
    nbytes = bandwidth.step_bytes(cfg, beams, vocab, k)
    return bandwidth.project(board, cfg, basis.step_cycles(cfg, beams, vocab), nbytes, bandwidth.clock_mhz(board))


def pack_seconds(fmt: str, beams: int, vocab: int, k: int, repeats: int = 5, seed: int = 0) -> float:
    """Median time to write one step's logits into its DMA buffer in `fmt` on this CPU (buffer made once)."""
    cfg = wire_config(fmt, k)
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((beams, vocab), dtype=np.float32)
    scores = np.zeros(beams, np.float32)
    buf = step_buffer(cfg, beams, vocab)
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        pack_step(logits, scores, cfg, buf)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


@dataclass(frozen=True)
class FabricToken:
    board: str
    fmt: str
    token_s: float          # measured token on this CPU
    step_s: float           # measured step inside it
    board_step_s: float     # projected step on the board
    pack_s: float           # host packing of the logits, measured
    bound: str              # compute or transfer

    @property
    def fabric_token_s(self) -> float:
        return self.token_s - self.step_s + self.pack_s + self.board_step_s

    @property
    def speedup(self) -> float:
        return self.token_s / self.fabric_token_s

    @property
    def amdahl(self) -> float:
        return self.token_s / (self.token_s - self.step_s)

    def to_dict(self) -> dict:
        return {"board": self.board, "format": self.fmt, "token_s": self.token_s, "step_s": self.step_s,
                "board_step_s": self.board_step_s, "pack_s": self.pack_s, "bound": self.bound,
                "fabric_token_s": self.fabric_token_s, "speedup": self.speedup, "amdahl_bound": self.amdahl}


def fabric_tokens(token_s: float, step_s: float, beams: int, vocab: int, k: int, basis: ClockBasis,
                  pack: dict[str, float]) -> list[FabricToken]:
    """The token with its step on every board in every wire format; `pack` maps a format to its packing time."""
    out = []
    for board in bandwidth.BOARDS.values():
        for fmt in FORMATS:
            p = project_step(board, fmt, beams, vocab, k, basis)
            out.append(FabricToken(board.name, fmt, token_s, step_s, p.latency_us * 1e-6, pack[fmt], p.bound))
    return out
