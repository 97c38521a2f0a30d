"""Cycles per step: measured on the Verilated RTL (the `sim` backend reads the core's CYCLES register) at a few
corners, and a formula fitted to them for every other configuration and vocabulary size.

The stream sets the pace: a step is `B x (1 + ceil(V/P))` beats at one beat per cycle (docs/interface.md §2),
so

    cycles = B x (1 + ceil(V/P)) + B x row_overhead + tail(K_MAX)

where the row overhead is what a row costs beyond its beats and the tail is the time from the last beat to the
last result. Both are fitted by least squares to every simulated (B, V) point (rows of at least 256 beats); the
report prints the largest difference between the formula and a simulated point, and docs/interface.md §5's bound
(row overhead <= 4, tail <= 4 K_MAX + 32) next to it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from beamstream.hw.interface import CoreConfig

from .cpu import sample_step


class SimMissing(RuntimeError):
    """The `sim` backend (or the top level it simulates) has not landed."""


def stream_beats(cfg: CoreConfig, beams: int, vocab: int) -> int:
    return beams * cfg.beats_per_row(vocab)


def design_bound(cfg: CoreConfig, beams: int, vocab: int) -> int:
    """docs/interface.md §5: a row costs its beats plus at most 4 cycles; the last result leaves <= 4 K_MAX + 32
    cycles after the last beat."""
    return stream_beats(cfg, beams, vocab) + 4 * beams + 4 * cfg.k_max + 32


def finn_labelselect_cycles(cfg: CoreConfig, beams: int, vocab: int, k: int) -> int:
    """FINN LabelSelect's expected cycles (Labels // PE + K per input vector) for the same step, one vector per row."""
    return beams * (vocab // cfg.lanes + k)


def sample_points(cfg: CoreConfig, beams: int, vocabs) -> list[tuple[int, int]]:
    """(B, V) pairs simulated at one corner: two beam counts so the per-row cost separates from the tail.

    Rows are at least 256 beats: a row much shorter than its own K-item drain stalls the next one (measured: B=4,
    V=9, P=1 costs 102 cycles beyond its beats where V >= 64 costs 39), a regime no real vocabulary is in.
    """
    small = [cfg.lanes * 256 + 1, cfg.lanes * 1024]
    return sorted({(b, v) for b in {1, beams} for v in [*small, *vocabs] if v <= cfg.vocab_max})


def _last_cycles(backend) -> int:
    value = getattr(backend, "last_cycles", None)
    if value is None:
        raise SimMissing("the sim backend does not expose the CYCLES register of its last step (last_cycles)")
    return int(value)


def simulate_corner(cfg: CoreConfig, beams: int, vocabs, k: int) -> list[dict]:
    """Simulated CYCLES of one step at every `sample_points` pair, on the Verilated top level of `cfg`."""
    from beamstream import get_backend
    try:
        backend = get_backend("sim", config=cfg)
    except ImportError as exc:
        raise SimMissing(f"sim backend not available ({exc})") from exc
    out = []
    try:
        for b, v in sample_points(cfg, beams, vocabs):
            kk = min(k, cfg.k_max, b * v)
            logits, scores = sample_step(b, v)
            backend.step(logits, scores, kk)
            out.append({"beams": b, "vocab": v, "k": kk, "cycles": _last_cycles(backend)})
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()
    return out


@dataclass(frozen=True)
class CycleModel:
    row_overhead: float
    tail_base: float
    tail_per_k: float
    max_error: float   # largest |formula - simulation| over the fitted points, in cycles
    points: int

    def predict(self, cfg: CoreConfig, beams: int, vocab: int) -> int:
        extra = beams * self.row_overhead + self.tail_base + self.tail_per_k * cfg.k_max
        return stream_beats(cfg, beams, vocab) + round(extra)

    def describe(self) -> str:
        return (f"cycles = B x (1 + ceil(V/P)) + {self.row_overhead:.2f} x B + {self.tail_base:.1f} + "
                f"{self.tail_per_k:.2f} x K_MAX  (fitted to {self.points} simulated steps; largest error "
                f"{self.max_error:.0f} cycles)")


def fit(samples: list[tuple[CoreConfig, dict]]) -> CycleModel:
    """Least-squares fit of the overhead beyond the stream's beats to simulated (config, point) samples.

    With only one K_MAX among the samples the tail cannot depend on K_MAX, so its slope is fixed at 0.
    """
    if not samples:
        raise ValueError("no simulated steps to fit the cycle formula to")
    rows, extra = [], []
    for cfg, p in samples:
        rows.append([p["beams"], 1.0, cfg.k_max])
        extra.append(p["cycles"] - stream_beats(cfg, p["beams"], p["vocab"]))
    a = np.array(rows, dtype=float)
    if len({r[2] for r in rows}) < 2:
        a = a[:, :2]
    coef, *_ = np.linalg.lstsq(a, np.array(extra, dtype=float), rcond=None)
    coef = [*coef, 0.0][:3]
    model = CycleModel(coef[0], coef[1], coef[2], 0.0, len(samples))
    err = max(abs(model.predict(cfg, p["beams"], p["vocab"]) - p["cycles"]) for cfg, p in samples)
    return CycleModel(coef[0], coef[1], coef[2], float(err), len(samples))
