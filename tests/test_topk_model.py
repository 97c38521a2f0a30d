"""The top-K NumPy models against plain-Python statements of the same rules."""
import random

import numpy as np
import pytest

from beamstream.hw.interface import SCORE_NEG_INF
from beamstream.hwmodel.topk import (beam_topk, beam_topk_items, chain_topk, global_topk, global_topk_items)
from conftest import seeded


def insertion_chain(keys, indices, depth):
    """The cell rule of hw/topk_chain.py run sequentially: a fresh item displaces only a strictly smaller key,
    an item that was displaced always displaces; empty cells take anything."""
    cells = [None] * depth
    for item in zip(keys, indices):
        displaced = False
        for i in range(depth):
            if item is None:
                break
            held = cells[i]
            if held is None or displaced or item[0] > held[0]:
                cells[i], item, displaced = item, held, True
    return [c for c in cells if c is not None]


@pytest.mark.parametrize("seed", range(20))
def test_chain_rule_is_a_stable_sort(seed):
    rng = random.Random(seeded(seed))
    depth = rng.randint(1, 12)
    n = rng.randint(0, 40)
    keys = [rng.randint(-3, 3) if seed % 2 else rng.randint(-1000, 1000) for _ in range(n)]
    indices = [rng.randrange(100) for _ in range(n)]
    k = rng.randint(1, depth)
    want = insertion_chain(keys, indices, depth)[:k]
    got_keys, got_indices = chain_topk(keys, indices, k)
    assert list(zip(got_keys.tolist(), got_indices.tolist())) == want


def test_beam_topk_ties_smaller_token_first():
    keys = [5, 7, 5, 7, -(1 << 19), 5]
    got_keys, got_tokens = beam_topk(keys, 5)
    want = sorted(range(len(keys)), key=lambda t: (-keys[t], t))[:5]
    assert got_tokens.tolist() == want
    assert got_keys.tolist() == [keys[t] for t in want]


def test_beam_topk_items_pads_short_rows():
    keys, tokens, real = beam_topk_items([3, -8], 4, key_neg_inf=-(1 << 19))
    assert keys.tolist() == [3, -8, -(1 << 19), -(1 << 19)]
    assert tokens.tolist() == [0, 1, 0, 0]
    assert real.tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize("seed", range(10))
def test_global_topk_tie_rule(seed):
    rng = random.Random(seeded(seed))
    n = rng.randint(1, 60)
    cands = [(rng.choice([SCORE_NEG_INF, -5, 0, 5, rng.randint(-100, 100)]), rng.randrange(8), rng.randrange(50))
             for _ in range(n)]
    rng.shuffle(cands)
    k = rng.randint(1, 20)
    s, b, t = global_topk(*np.array(cands).T, k)
    want = sorted(cands, key=lambda c: (-c[0], c[1], c[2]))[:k]
    assert list(zip(s.tolist(), b.tolist(), t.tolist())) == want


def test_global_topk_items_pads_with_neg_inf():
    s, b, t = global_topk_items([4], [2], [9], 3)
    assert s.tolist() == [4, SCORE_NEG_INF, SCORE_NEG_INF]
    assert b.tolist() == [2, 0, 0] and t.tolist() == [9, 0, 0]
