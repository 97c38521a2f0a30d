"""End-to-end, bit-exact model of one decode step on the core, and the wire formats of its two streams.

The step model composes the block models exactly as hw/core.py composes the blocks: logits through the wire
format to fixed-point keys, per row the log-sum-exp and the top min(k, V) keys, those normalised with the beam
score, then the global top k. Scores are 32-bit fixed point with F = cfg.frac_bits fraction bits.

The packing helpers are what a driver needs around a DMA transfer (sim and PYNQ reuse them): `step_buffer` /
`result_buffer` allocate once per shape, `pack_step` / `unpack_results` fill caller-owned arrays in place.
"""
from __future__ import annotations

import numpy as np

from beamstream.backends.base import check_step
from beamstream.hw.interface import (FORMATS, HEADER_SCORE_BITS, LANE_WIDTH, RESULT_BEAT_BITS, RESULT_FIELDS,
                                     SCORE_NEG_INF, CoreConfig)

from .numerics import beam_score_to_fixed, logits_to_keys, normalise, rows_lse, to_wire
from .topk import beam_topk, global_topk

LANE_DTYPE = {fmt: np.dtype(f"<u{LANE_WIDTH[fmt] // 8}") for fmt in FORMATS}
RESULT_DTYPE = np.dtype(f"<u{RESULT_BEAT_BITS // 8}")    # one m_axis beat


def step_fixed(logits: np.ndarray, beam_scores: np.ndarray, k: int, cfg: CoreConfig):
    """The core's result for one step of already validated float32 logits[B, V], beam_scores[B].

    Returns (scores int64[k] fixed point, SCORE_NEG_INF for -inf; beams int64[k]; tokens int64[k]), best first.
    """
    keys = logits_to_keys(logits, cfg)
    beam_fix = beam_score_to_fixed(beam_scores, cfg)
    lse, neg_inf = rows_lse(keys, cfg)
    per_row = min(k, keys.shape[1])
    scores, beams, tokens = [], [], []
    for b, row in enumerate(keys):
        row_keys, row_tokens = beam_topk(row, per_row)
        scores.append(normalise(row_keys, beam_fix[b], lse[b], neg_inf[b], cfg))
        beams.append(np.full(per_row, b, dtype=np.int64))
        tokens.append(np.asarray(row_tokens, dtype=np.int64))
    return tuple(np.asarray(a, dtype=np.int64) for a in
                 global_topk(np.concatenate(scores), np.concatenate(beams), np.concatenate(tokens), k))


def hw_step(logits, beam_scores, k, cfg: CoreConfig):
    """`step_fixed` after the same input checks every backend makes (clear ValueErrors, limits of `cfg`)."""
    x, s, k = check_step(logits, beam_scores, k, max_beams=cfg.beams_max, max_vocab=cfg.vocab_max, max_k=cfg.k_max)
    return step_fixed(x, s, k, cfg)


def scores_to_float(scores_fix: np.ndarray, cfg: CoreConfig, out: np.ndarray | None = None) -> np.ndarray:
    """Fixed-point scores -> float64 log-probabilities (score / 2^F; SCORE_NEG_INF -> -inf)."""
    out = np.empty(np.shape(scores_fix), np.float64) if out is None else out
    np.multiply(scores_fix, 2.0 ** -cfg.frac_bits, out=out)
    out[np.asarray(scores_fix) == SCORE_NEG_INF] = -np.inf
    return out


# -- s_axis: a step as beats -------------------------------------------------------------------------------------
def step_buffer(cfg: CoreConfig, beams: int, vocab: int) -> np.ndarray:
    """A zeroed s_axis buffer for a [beams, vocab] step: lanes[beams, beats_per_row, P] (uint32 or uint16).

    Its bytes in memory order are the beats in stream order (lane i of a beat at bits [i*W, (i+1)*W)).
    """
    if not 1 <= beams <= cfg.beams_max:
        raise ValueError(f"beams={beams} must be in 1..{cfg.beams_max}")
    if not 1 <= vocab <= cfg.vocab_max:
        raise ValueError(f"vocab={vocab} must be in 1..{cfg.vocab_max}")
    return np.zeros((beams, cfg.beats_per_row(vocab), cfg.lanes), LANE_DTYPE[cfg.fmt])


def pack_step(logits: np.ndarray, beam_scores: np.ndarray, cfg: CoreConfig, out: np.ndarray) -> np.ndarray:
    """Write one step into `out` (from `step_buffer`): per row a header beat with the fp32 beam score, then the
    logits in cfg.fmt, pad lanes zero. fp32 and fp16 are converted in place; bf16 goes through `to_wire`.
    """
    beams, vocab = np.shape(logits)
    expected = (beams, cfg.beats_per_row(vocab), cfg.lanes)
    if out.shape != expected or out.dtype != LANE_DTYPE[cfg.fmt] or not out.flags.c_contiguous:
        raise ValueError(f"out must be a contiguous {np.dtype(LANE_DTYPE[cfg.fmt])} array of shape {expected} "
                         f"(see step_buffer), got {out.dtype} {out.shape}")
    if np.shape(beam_scores) != (beams,):
        raise ValueError(f"beam_scores must have shape ({beams},), got {np.shape(beam_scores)}")
    rows = out.reshape(beams, -1)
    lanes = rows[:, cfg.lanes:cfg.lanes + vocab]
    if cfg.fmt == "fp32":
        np.copyto(lanes.view(np.float32), logits, casting="same_kind")
    elif cfg.fmt == "fp16":
        with np.errstate(over="ignore"):
            np.copyto(lanes.view(np.float16), logits, casting="same_kind")
    else:
        np.copyto(lanes, to_wire(logits, cfg.fmt))
    rows[:, cfg.lanes + vocab:] = 0
    rows[:, :cfg.lanes] = 0
    # Through bytes: numpy < 1.23 cannot view a non-contiguous slice (the header lanes) as float32.
    header = out.view(np.uint8).reshape(beams, -1)[:, :HEADER_SCORE_BITS // 8]
    scores = np.asarray(beam_scores).astype("<f4", casting="same_kind")
    header[:] = scores.view(np.uint8).reshape(beams, HEADER_SCORE_BITS // 8)
    return out


# -- m_axis: result beats ----------------------------------------------------------------------------------------
def result_buffer(k: int) -> np.ndarray:
    """A buffer for the k result beats of one step."""
    return np.zeros(k, RESULT_DTYPE)


def unpack_results(words: np.ndarray, out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None):
    """m_axis beats -> (scores, beams, tokens) as int64 (RESULT_FIELDS; the score is signed).

    `out` may hold three int64 arrays of len(words) to fill instead of allocating.
    """
    words = np.asarray(words)
    if words.dtype != RESULT_DTYPE or words.ndim != 1:
        raise ValueError(f"words must be a 1-D little-endian uint64 array, got {words.dtype} {words.shape}")
    if out is None:
        out = tuple(np.empty(len(words), np.int64) for _ in range(3))
    scores, beams, tokens = out
    signed = words.view(np.int64)
    low, width = RESULT_FIELDS["score"]
    np.left_shift(signed, 64 - low - width, out=scores)
    np.right_shift(scores, 64 - width, out=scores)          # sign-extends the score
    for field, out_field in (("beam", beams), ("token", tokens)):
        low, width = RESULT_FIELDS[field]
        np.right_shift(signed, low, out=out_field)
        np.bitwise_and(out_field, (1 << width) - 1, out=out_field)
    return scores, beams, tokens
