"""Internal widths and lookup tables of the score-path numerics, derived from a CoreConfig.

The gateware (hw/logsumexp.py) and the NumPy model (numerics.py) both read these, so the tables and widths
they use are the same objects. docs/numerics.md derives each width from the error budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class LseWidths:
    frac_bits: int      # F: fraction bits of keys and of lse
    logit_bits: int     # L: width of a key
    u_frac: int         # G: fraction bits of u = key * log2(e)
    log2e_frac: int     # fraction bits of the log2(e) constant
    exp_index: int      # index bits of the 2^-r table (the rest of r's G bits interpolate)
    exp_frac: int       # FM: fraction bits of the 2^-r table (value 1.0 = 2^FM)
    acc_frac: int       # FD: fraction bits of the accumulated sum (1.0 = the running max's term)
    acc_bits: int       # width of the unsigned accumulator d
    acc_ways: int       # beats go round-robin to this many accumulators (the rescale-and-add loop's depth)
    ln_index: int       # index bits of the ln(1+f) table
    mant_frac: int      # fraction bits of the normalised mantissa fed to the ln table
    ln_frac: int        # FL: fraction bits of ln values before rounding lse to F bits

    @property
    def log2e(self) -> int:
        return round(math.log2(math.e) * (1 << self.log2e_frac))

    @property
    def ln2(self) -> int:
        return round(math.log(2) * (1 << self.ln_frac))

    @property
    def u_shift(self) -> int:
        """u = (key * log2e) >> u_shift has G fraction bits."""
        return self.frac_bits + self.log2e_frac - self.u_frac

    @property
    def u_bits(self) -> int:
        """Signed width of u: |u| <= 2^(L-1) * log2(e) / 2^F * 2^G, with room for the ceiling."""
        return self.logit_bits + self.u_frac - self.frac_bits + 2

    @property
    def exp_int_bits(self) -> int:
        """Signed width of the integer exponents c = ceil(u) and E (running max)."""
        return self.u_bits - self.u_frac + 1

    @property
    def term_shift_max(self) -> int:
        """Lane terms shifted by this much or more are zero: m << (FD - FM) < 2^(FD + 1)."""
        return self.acc_frac + 1


def lse_widths(cfg) -> LseWidths:
    F, L = cfg.frac_bits, cfg.logit_bits
    if L > 31:
        raise ValueError(f"logit_bits={L}: the log-sum-exp needs logit_bits <= 31 so that key_max + ln(vocab_max) "
                         "fits the 32-bit score")
    G = max(F, 6) + 4       # at least 4 bits below the keys' F, and room for the 6 table index bits
    # at least the mantissa's 20 fraction bits, so tiny vocabularies (token_bits < 4) still build
    acc_frac = max(cfg.token_bits + 16, 20)
    return LseWidths(
        frac_bits=F, logit_bits=L, u_frac=G,
        # |key| < 2^(L-1-F): the constant's rounding error then moves u by < 2^-(G+1).
        log2e_frac=G + L - F,
        exp_index=6, exp_frac=20,
        acc_frac=acc_frac,
        # d <= V * 2^FD with V <= 2^token_bits
        acc_bits=cfg.token_bits + acc_frac + 1,
        acc_ways=3,
        ln_index=7, mant_frac=17,
        # K * ln2 with |K| < 2^(L-F) stays within 2^-(G+1) of exact
        ln_frac=G + L - F,
    )


@lru_cache(maxsize=None)
def _exp2_table(index_bits: int, frac: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    j = np.arange((1 << index_bits) + 1)
    values = np.array([round(2.0 ** (frac - float(x) / (1 << index_bits))) for x in j], dtype=np.int64)
    return tuple(int(v) for v in values[:-1]), tuple(int(v) for v in values[:-1] - values[1:])


def exp2_table(w: LseWidths) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(base, drop): base[j] = round(2^FM * 2^(-j/2^I)), drop[j] = base[j] - base[j+1], j < 2^I."""
    return _exp2_table(w.exp_index, w.exp_frac)


@lru_cache(maxsize=None)
def _ln_table(index_bits: int, frac: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    values = [round(math.log1p(x / (1 << index_bits)) * (1 << frac)) for x in range((1 << index_bits) + 1)]
    return tuple(values[:-1]), tuple(values[j + 1] - values[j] for j in range(1 << index_bits))


def ln_table(w: LseWidths) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(base, rise): base[j] = round(2^FL * ln(1 + j/2^I)), rise[j] = base[j+1] - base[j], j < 2^I."""
    return _ln_table(w.ln_index, w.ln_frac)
