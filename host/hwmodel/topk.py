"""Bit-exact NumPy model of the top-K path (hw/topk_chain.py, hw/beam_topk.py, hw/global_topk.py).

The specification of what the fabric returns, including the tie rules and the padding it emits when a row or a
step has fewer candidates than k. Keys, scores and indices are plain Python/NumPy integers.
"""
from __future__ import annotations

import numpy as np

from beamstream.hw.interface import SCORE_NEG_INF


def chain_topk(keys, indices, k: int):
    """TopKChain on one row: the k largest keys, ties in arrival order. Returns (keys, indices), at most k each."""
    keys = np.asarray(keys, dtype=np.int64)
    order = np.argsort(-keys, kind="stable")[:k]
    return keys[order], np.asarray(indices, dtype=np.int64)[order]


def beam_topk(keys_row, k: int):
    """A row's top-k by key, larger first, ties by smaller token (keys_row[token]). Returns (keys, tokens)."""
    keys_row = np.asarray(keys_row, dtype=np.int64)
    return chain_topk(keys_row, np.arange(keys_row.size), k)


def beam_topk_items(keys_row, k: int, key_neg_inf: int):
    """BeamTopK's output for a row: exactly k (key, token, real) items; padding is (key_neg_inf, 0, real=0)."""
    keys, tokens = beam_topk(keys_row, k)
    pad = k - keys.size
    return (np.concatenate([keys, np.full(pad, key_neg_inf, np.int64)]),
            np.concatenate([tokens, np.zeros(pad, np.int64)]),
            np.concatenate([np.ones(keys.size, np.int64), np.zeros(pad, np.int64)]))


def global_topk(scores, beams, tokens, k: int):
    """The step's top-k by score, larger first, ties by smaller (beam, token). Returns (scores, beams, tokens)."""
    scores = np.asarray(scores, dtype=np.int64)
    beams = np.asarray(beams, dtype=np.int64)
    tokens = np.asarray(tokens, dtype=np.int64)
    order = np.lexsort((tokens, beams, -scores))[:k]    # last key is the primary one
    return scores[order], beams[order], tokens[order]


def global_topk_items(scores, beams, tokens, k: int):
    """GlobalTopK's output for a step: exactly k items; padding (fewer than k candidates) is (SCORE_NEG_INF, 0, 0)."""
    s, b, t = global_topk(scores, beams, tokens, k)
    pad = k - s.size
    return (np.concatenate([s, np.full(pad, SCORE_NEG_INF, np.int64)]),
            np.concatenate([b, np.zeros(pad, np.int64)]),
            np.concatenate([t, np.zeros(pad, np.int64)]))
