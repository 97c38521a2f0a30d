"""Bit-exact NumPy model of the fabric's score-path numerics: float -> fixed keys, online log-sum-exp, normalise.

Pure integer NumPy (int64) and Python ints; this is the specification the gateware in hw/float_to_fixed.py,
hw/logsumexp.py and hw/normalise.py is tested against bit for bit. docs/numerics.md explains the design and
derives the error bound.
"""
from __future__ import annotations

import numpy as np

from beamstream.hw.interface import (FLOAT_FIELDS, SCORE_BITS, SCORE_MAX, SCORE_NEG_INF, exp2_table, ln_table,
                                     lse_widths)

def _format(fmt):
    """(exponent bits, mantissa bits) of the wire format `fmt`."""
    if fmt not in FLOAT_FIELDS:
        raise ValueError(f"fmt={fmt!r} is not one of {sorted(FLOAT_FIELDS)}")
    return FLOAT_FIELDS[fmt]


def to_wire(logits, fmt: str) -> np.ndarray:
    """Host-side packing of float32 logits into the lane format: raw bits (uint32 for fp32, uint16 otherwise).

    bf16 and fp16 round to nearest even and overflow to inf, as IEEE does; NaN stays NaN.
    """
    _format(fmt)
    x = np.asarray(logits, dtype=np.float32)
    if fmt == "fp32":
        return x.view(np.uint32).copy()
    if fmt == "fp16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16).view(np.uint16)
    u = x.view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    quiet_nan = (u >> 16) | 0x40
    return np.where(np.isnan(x), quiet_nan, rounded).astype(np.uint16)


def float_to_fixed(bits, fmt: str, out_bits: int, frac_bits: int) -> np.ndarray:
    """Raw float bits -> signed(out_bits) fixed point with frac_bits fraction bits (int64).

    Round half away from zero, saturate to +-(2^(out_bits-1) - 1); +inf saturates high; NaN and -inf give
    -2^(out_bits-1) (the -inf code). Subnormals are exact inputs like any other value.
    """
    ebits, mbits = _format(fmt)
    if not (isinstance(out_bits, int) and 2 <= out_bits <= 32):
        raise ValueError(f"out_bits={out_bits!r} must be an int in 2..32")
    if not (isinstance(frac_bits, int) and 0 <= frac_bits < out_bits):
        raise ValueError(f"frac_bits={frac_bits!r} must be an int in 0..out_bits-1")
    raw = np.asarray(bits)
    if raw.size and (raw.min() < 0 or raw.max() >> (1 + ebits + mbits)):
        raise ValueError(f"bits hold values that are not {1 + ebits + mbits}-bit {fmt} patterns")
    raw = raw.astype(np.int64)
    sign = (raw >> (ebits + mbits)) & 1
    exp = (raw >> mbits) & ((1 << ebits) - 1)
    frac = raw & ((1 << mbits) - 1)
    special = exp == (1 << ebits) - 1
    mant = np.where(exp > 0, frac | (1 << mbits), frac)
    bias = (1 << (ebits - 1)) - 1
    shift = np.maximum(exp, 1) - bias - mbits + frac_bits
    # mant < 2^24: a left shift by 32 already passes every saturation bound; right shifts past 62 give 0.
    up = mant << np.clip(shift, 0, 32)
    down_by = np.clip(-shift, 1, 62)
    down = (mant + (np.int64(1) << (down_by - 1))) >> down_by
    top = (1 << (out_bits - 1)) - 1
    mag = np.minimum(np.where(shift >= 0, up, down), top)
    value = np.where(sign == 1, -mag, mag)
    neg_inf = -(1 << (out_bits - 1))
    value = np.where(special, np.where((frac == 0) & (sign == 0), top, neg_inf), value)
    return value.astype(np.int64)


def logits_to_keys(logits, cfg) -> np.ndarray:
    """float32 logits -> keys as the core sees them (through the wire format cfg.fmt)."""
    return float_to_fixed(to_wire(logits, cfg.fmt), cfg.fmt, cfg.logit_bits, cfg.frac_bits)


def beam_score_to_fixed(scores, cfg) -> np.ndarray:
    """fp32 beam scores -> 32-bit scores with F fraction bits (NaN/-inf -> SCORE_NEG_INF), as the header beat."""
    return float_to_fixed(to_wire(scores, "fp32"), "fp32", SCORE_BITS, cfg.frac_bits)


def _check_keys(keys, cfg) -> np.ndarray:
    k = np.asarray(keys)
    if not np.issubdtype(k.dtype, np.integer):
        raise ValueError(f"keys must be integer keys (use logits_to_keys), got dtype {k.dtype}")
    k = k.astype(np.int64)
    if k.size and (k.min() < cfg.key_neg_inf or k.max() > cfg.key_max):
        raise ValueError(f"keys must be signed {cfg.logit_bits}-bit values")
    return k


def lane_terms(keys, cfg):
    """Per key: (live, c, m) with u = key*log2(e) = c - r, c = ceil(u), and m = 2^-r with exp_frac fraction bits."""
    w = lse_widths(cfg)
    k = _check_keys(keys, cfg)
    u = (k * w.log2e) >> w.u_shift
    c = -((-u) >> w.u_frac)
    r = (c << w.u_frac) - u
    lo_bits = w.u_frac - w.exp_index
    base, drop = (np.asarray(t, dtype=np.int64) for t in exp2_table(w))
    j = r >> lo_bits
    m = base[j] - ((drop[j] * (r & ((1 << lo_bits) - 1))) >> lo_bits)
    return k != cfg.key_neg_inf, c, m


def finish_lse(d: int, e: int, cfg) -> int:
    """lse with F fraction bits from the accumulated d (acc_frac fraction bits) at running exponent e."""
    w = lse_widths(cfg)
    n = d.bit_length() - 1
    q = (d << (w.mant_frac - n) if n <= w.mant_frac else d >> (n - w.mant_frac)) - (1 << w.mant_frac)
    lo_bits = w.mant_frac - w.ln_index
    base, rise = ln_table(w)
    j = q >> lo_bits
    ln_mant = base[j] + ((rise[j] * (q & ((1 << lo_bits) - 1))) >> lo_bits)
    ln_hi = (e + n - w.acc_frac) * w.ln2 + ln_mant
    drop = w.ln_frac - w.frac_bits
    return (ln_hi + (1 << (drop - 1))) >> drop


def rows_lse(keys, cfg) -> tuple[np.ndarray, np.ndarray]:
    """Log-sum-exp of each row of keys[B, V] as the fabric computes it: (lse_fix int64[B], neg_inf bool[B]).

    Keys are taken cfg.lanes per beat, as on s_axis; keys equal to key_neg_inf take no part. Beat b of a row
    goes to accumulator b mod acc_ways; the row's result adds the accumulators aligned to the row's maximum.
    """
    k = _check_keys(keys, cfg)
    if k.ndim != 2 or k.shape[1] < 1:
        raise ValueError(f"keys must have shape [B, V] with V >= 1, got {k.shape}")
    w = lse_widths(cfg)
    B, V = k.shape
    P = cfg.lanes
    beats = -(-V // P)
    live, c, m = lane_terms(k, cfg)
    pad = ((0, 0), (0, beats * P - V))
    live = np.pad(live, pad).reshape(B, beats, P)
    c = np.pad(c, pad).reshape(B, beats, P)
    m = np.pad(m, pad).reshape(B, beats, P)
    never = np.int64(-(1 << 40))  # below every exponent: a beat without live lanes does not move the max
    e_beat = np.where(live, c, never).max(axis=2)
    run_max = np.maximum.accumulate(e_beat, axis=1)
    shift = np.clip(run_max[:, :, None] - c, 0, 63)
    x = np.where(live, (m << (w.acc_frac - w.exp_frac)) >> shift, 0).sum(axis=2)
    lse = np.zeros(B, dtype=np.int64)
    neg_inf = np.ones(B, dtype=bool)
    ways = np.arange(beats) % w.acc_ways
    for b in range(B):
        on = live[b].any(axis=1)
        if not on.any():
            continue
        e_final = int(run_max[b, -1])
        d = 0
        for way in range(w.acc_ways):
            mine = on & (ways == way)
            if mine.any():
                d_way, e_way = _accumulate(run_max[b][mine], x[b][mine])
                d += d_way >> (e_final - e_way)
        lse[b] = finish_lse(d, e_final, cfg)
        neg_inf[b] = False
    return lse, neg_inf


def _accumulate(e_seq, x_seq) -> tuple[int, int]:
    """One accumulator over its beats: d <- (d >> rise of the running max) + beat sum; returns (d, last max).

    Folded per run of equal maxima, so the Python loop is bounded by the logit range, not by V.
    """
    starts = np.flatnonzero(np.r_[True, e_seq[1:] != e_seq[:-1]])
    seg_sums = np.add.reduceat(x_seq, starts)
    d, e = 0, int(e_seq[0])
    for e_next, s in zip(e_seq[starts].tolist(), seg_sums.tolist()):
        d = (d >> (e_next - e)) + s
        e = e_next
    return d, e


def row_lse(keys_row, cfg) -> tuple[int, bool]:
    """Log-sum-exp of one row of keys: (lse_fix, neg_inf)."""
    row = np.asarray(keys_row)
    if row.ndim != 1:
        raise ValueError(f"keys_row must be one row (1-D), got shape {row.shape}")
    lse, neg_inf = rows_lse(row[None, :], cfg)
    return int(lse[0]), bool(neg_inf[0])


def normalise(keys, beam_score_fix, lse_fix, neg_inf, cfg) -> np.ndarray:
    """score = sat32(key + s - lse), or SCORE_NEG_INF when the key, s or the row is -inf.

    keys[..., V]; beam_score_fix, lse_fix, neg_inf hold one value per row (shape keys.shape[:-1], or scalars).
    """
    k = _check_keys(keys, cfg)
    if k.ndim < 1:
        raise ValueError("keys must have a trailing vocabulary axis")

    def per_row(name, value, dtype):
        a = np.asarray(value, dtype=dtype)
        if a.shape not in ((), k.shape[:-1]):
            raise ValueError(f"{name} must have one value per row (shape {k.shape[:-1]}), got shape {a.shape}")
        return a[..., None]

    s = per_row("beam_score_fix", beam_score_fix, np.int64)
    lse = per_row("lse_fix", lse_fix, np.int64)
    row_inf = per_row("neg_inf", neg_inf, bool)
    raw = np.clip(k + s - lse, -SCORE_MAX, SCORE_MAX)
    dead = (k == cfg.key_neg_inf) | (s == SCORE_NEG_INF) | row_inf
    return np.where(dead, SCORE_NEG_INF, raw).astype(np.int64)
