"""The numpy backend's step against an independent float64 reference (docs/interface.md §1)."""
import numpy as np
import pytest

from beamstream import get_backend
from beamstream.backends import resolve_backend
from beamstream.backends.numpy_backend import NumpyBackend
from conftest import seeded


def reference_scores(logits, beam_scores):
    """Straight from docs/interface.md §1, one row at a time: float64 log_softmax + beam score, NaN as -inf;
    flat [B*V]."""
    x = np.asarray(logits, np.float32).astype(np.float64)
    s = np.asarray(beam_scores, np.float32).astype(np.float64)
    x[np.isnan(x)] = -np.inf
    b, v = x.shape
    score = np.empty_like(x)
    for r in range(b):
        row = x[r]
        top = row.max()
        if top == -np.inf:                      # all -inf / NaN: -inf everywhere
            score[r] = -np.inf
        elif top == np.inf:                     # the mass is shared by the +inf logits
            n = np.count_nonzero(row == np.inf)
            score[r] = np.where(row == np.inf, s[r] - np.log(n), -np.inf)
        else:
            lse = top + np.log(np.sum(np.exp(row - top)))
            score[r] = (row - lse) + s[r]
    flat = score.ravel()
    flat[np.isnan(flat)] = -np.inf
    return flat


def reference(logits, beam_scores, k):
    """The k best of the float64 reference with a stable sort: (scores, beams, tokens)."""
    flat = reference_scores(logits, beam_scores)
    v = np.shape(logits)[1]
    order = np.argsort(-flat, kind="stable")[:k]
    return flat[order], order // v, order % v


TOL = 1e-5      # the step's scores against float64 (its normaliser is summed in float32)


def _near_tie_across_rows(x, s, flat, k):
    """True when the reference's top k+1 has neighbours from different, non-identical rows closer than TOL:
    which of them comes first is decided by float rounding, in the reference as in the step."""
    v = x.shape[1]
    order = np.argsort(-flat, kind="stable")[:k + 1]
    for a, b in zip(order[:-1], order[1:]):
        ra, rb = a // v, b // v
        if ra == rb or not np.isfinite(flat[a]) or not abs(flat[a] - flat[b]) < TOL:
            continue
        same_row = np.array_equal(x[ra], x[rb], equal_nan=True) and s[ra] == s[rb]
        if not same_row:
            return True
    return False


def check(backend, x, s, k, atol=TOL):
    got = backend.step(x, s, k)
    x32, s32 = np.asarray(x, np.float32), np.asarray(s, np.float32)
    flat = reference_scores(x32, s32)
    assert got.scores.shape == (k,) and got.beams.shape == (k,) and got.tokens.shape == (k,)
    assert got.beams.dtype.kind == "i" and got.tokens.dtype.kind == "i"
    idx = got.beams * x.shape[1] + got.tokens
    # the step's scores are the reference's for the tokens it picked
    np.testing.assert_allclose(got.scores, flat[idx], rtol=0, atol=atol)
    # its own order: score descending, the smaller flat index first among equal scores
    assert np.all(np.diff(got.scores[np.isfinite(got.scores)]) <= 0)
    same = got.scores[1:] == got.scores[:-1]
    assert np.all(np.diff(idx)[same] > 0)
    # nothing left out beats what was picked by more than the tolerance
    rest = np.delete(flat, idx)
    if rest.size and np.isfinite(got.scores[-1]):
        assert rest.max() <= flat[idx].min() + atol
    # and exactly the reference's picks unless float rounding decides between rows
    if not _near_tie_across_rows(x32, s32, flat, k):
        want = np.argsort(-flat, kind="stable")[:k]
        np.testing.assert_array_equal(idx, want)
    return got


def random_case(rng):
    b = int(rng.integers(1, 9))
    v = int(rng.choice([1, 2, 5, 63, 64, 65, 300, 1000, 4099, 20011]))
    kind = int(rng.integers(0, 6))
    if kind == 0:
        x = rng.standard_normal((b, v)).astype(np.float32) * 3
    elif kind == 1:                              # few distinct values: many ties, also across rows
        x = rng.integers(-3, 3, (b, v)).astype(np.float32)
    elif kind == 2:                              # identical rows: ties everywhere
        x = np.repeat(rng.integers(-2, 2, (1, v)).astype(np.float32), b, axis=0)
    elif kind == 3:                              # -inf and NaN sprinkled, whole bad rows
        x = rng.standard_normal((b, v)).astype(np.float32)
        u = rng.random((b, v))
        x[u < 0.3] = -np.inf
        x[u > 0.9] = np.nan
        x[rng.integers(b)] = -np.inf
        if b > 1:
            x[rng.integers(b)] = np.nan
    elif kind == 4:                              # +inf logits
        x = rng.standard_normal((b, v)).astype(np.float32)
        x[rng.integers(b), : max(1, v // 7)] = np.inf
    else:                                        # large magnitudes
        x = (rng.standard_normal((b, v)) * 1e4).astype(np.float32)
    s = (rng.standard_normal(b) * 3).astype(np.float32) if rng.random() < 0.7 else np.zeros(b, np.float32)
    if kind == 2 and rng.random() < 0.5:
        s = np.full(b, s[0], np.float32)         # equal beams too
    k = int(rng.choice([1, 2, b, 2 * b, 16, b * v, max(1, b * v // 3)]))
    return x, s, min(max(k, 1), b * v)


def test_random_sweep_matches_reference():
    backend = NumpyBackend()
    rng = np.random.default_rng(seeded(1234))
    for _ in range(1500):
        check(backend, *random_case(rng))


@pytest.mark.parametrize("b,v", [(4, 50257), (8, 151936), (3, 1000)])
def test_vocab_sized_steps(b, v):
    rng = np.random.default_rng(seeded(v))
    x = (rng.standard_normal((b, v)) * 4).astype(np.float32)
    s = (rng.standard_normal(b) * 5).astype(np.float32)
    backend = NumpyBackend()
    for k in (1, 2 * b, 3 * b, 64):
        check(backend, x, s, k)


def test_ties_at_the_k_boundary_take_smaller_flat_index():
    backend = NumpyBackend()
    v = 5000
    x = np.zeros((3, v), np.float32)
    x[:, 7] = 5.0                               # one winner per row, equal rows, equal beams
    x[1, 4000:4010] = 5.0                       # row 1: more copies of the max, later in the row
    s = np.zeros(3, np.float32)
    got = check(backend, x, s, 6)
    flat = (got.beams * v + got.tokens).tolist()
    # rows 0 and 2 tie exactly (smaller flat index first); row 1 shares its mass over 11 maxima (lower scores),
    # which then come in token order
    assert flat == [7, 2 * v + 7, v + 7, v + 4000, v + 4001, v + 4002]
    assert got.scores[0] == got.scores[1] and got.scores[2] == got.scores[5]


def test_group_boundary_ties_are_not_lost():
    """Many equal maxima spread over several groups, k cutting through them."""
    backend = NumpyBackend()
    v = 64 * 50 + 13
    x = np.full((2, v), -1.0, np.float32)
    x[:, ::37] = 2.0                            # equal values in many groups and the tail
    for k in (1, 3, 10, 50, 100):
        check(backend, x, np.array([0.0, 0.0], np.float32), k)


def test_nan_counts_as_minus_inf_and_bad_rows_rank_by_index():
    backend = NumpyBackend()
    x = np.full((3, 4000), -np.inf, np.float32)
    x[1, :] = np.nan
    x[2, 10] = 1.0
    got = check(backend, x, np.zeros(3, np.float32), 12)
    assert got.tokens[0] == 10 and got.beams[0] == 2 and got.scores[0] == 0.0
    assert np.all(np.isneginf(got.scores[1:]))
    assert (got.beams[1:] * 4000 + got.tokens[1:]).tolist() == list(range(11))


def test_all_minus_inf_step_gives_index_order():
    backend = NumpyBackend()
    for v in (10, 9000):
        x = np.full((2, v), -np.inf, np.float32)
        got = backend.step(x, np.zeros(2), 5)
        assert np.all(np.isneginf(got.scores))
        assert (got.beams * v + got.tokens).tolist() == [0, 1, 2, 3, 4]


def test_k_equals_b_times_v():
    backend = NumpyBackend()
    rng = np.random.default_rng(seeded(5))
    for b, v in ((1, 1), (2, 3), (3, 700), (2, 3000)):
        x = rng.integers(-2, 2, (b, v)).astype(np.float32)
        check(backend, x, rng.standard_normal(b).astype(np.float32), b * v)


def test_single_token_vocab_scores_exactly_beam_score():
    got = NumpyBackend().step(np.array([[3.5], [-1.0]], np.float32), np.array([0.0, -2.0]), 2)
    assert got.scores.tolist() == [0.0, -2.0]


def test_fp16_input_and_float64_input():
    rng = np.random.default_rng(seeded(2))
    x = rng.standard_normal((2, 3000)).astype(np.float16)
    check(NumpyBackend(), x, np.zeros(2), 4)
    check(NumpyBackend(), x.astype(np.float64), np.zeros(2), 4)


def test_work_arrays_are_reused_across_steps():
    backend = NumpyBackend()
    rng = np.random.default_rng(seeded(3))
    x = rng.standard_normal((4, 9000)).astype(np.float32)
    backend.step(x, np.zeros(4), 8)
    work = backend._work[(4, 9000)]
    ids = (id(work.exp), id(work.gmax))
    for _ in range(3):
        check(backend, rng.standard_normal((4, 9000)).astype(np.float32), rng.standard_normal(4), 8)
    assert backend._work[(4, 9000)] is work and (id(work.exp), id(work.gmax)) == ids


@pytest.mark.parametrize("logits,scores,k,match", [
    (np.zeros(5, np.float32), np.zeros(1), 1, "2-D"),
    (np.zeros((2, 5), np.int32), np.zeros(2), 1, "floating"),
    (np.zeros((2, 5), np.float32), np.zeros(3), 1, "beam_scores"),
    (np.zeros((2, 5), np.float32), np.zeros(2), 11, "k=11"),
    (np.zeros((2, 5), np.float32), np.zeros(2), 0, "k=0"),
    (np.zeros((2, 5), np.float32), np.zeros(2), 2.0, "k must be an int"),
    (np.zeros((0, 5), np.float32), np.zeros(0), 1, "at least one"),
])
def test_validation_errors(logits, scores, k, match):
    with pytest.raises(ValueError, match=match):
        NumpyBackend().step(logits, scores, k)


def test_registry():
    backend = get_backend("numpy")
    assert isinstance(backend, NumpyBackend)
    assert backend.name == "numpy" and backend.max_k is None and "fp32" in backend.formats
    assert resolve_backend(backend) is backend
    with pytest.raises(ValueError, match="known backends: numpy"):
        get_backend("nope")


@pytest.mark.parametrize("top", [63.9, 64.1, -63.9, -64.1, 500.0, -3000.0])
def test_normaliser_at_and_beyond_the_unshifted_range(top):
    """Large steps take exp(x) unshifted when every row max is within +-64; rows around and past that bound."""
    rng = np.random.default_rng(seeded(int(abs(top) * 10)))
    x = (rng.standard_normal((3, 9000)) * 5).astype(np.float32)
    x -= x.max(axis=1, keepdims=True)
    x[0] += np.float32(top)
    x[1] += np.float32(min(top, 10.0))
    x[2] += np.float32(-top)
    for k in (1, 6, 40):
        check(NumpyBackend(), x, rng.standard_normal(3).astype(np.float32), k)
