"""The NumPy model of the score-path numerics against float64, and against a beat-by-beat transcription of the
hardware algorithm (the vectorised model folds the accumulate loop per run of equal maxima; this checks it)."""
import math

import numpy as np
import pytest

from beamstream.hw.interface import SCORE_NEG_INF, CoreConfig, lse_widths
from beamstream.hwmodel import numerics as nm
from conftest import require, seeded

CFG = CoreConfig()                  # F = 12, logit_bits = 20 (keys in +-128), vocab_max = 2^18
F = CFG.frac_bits
ULP = 2.0 ** -F
# docs/numerics.md derives these: the computation adds < 8.3e-5 to half-ulp roundings of the key and the lse.
COMPUTE_BOUND = 8.3e-5
LSE_BOUND = 2 * ULP / 2 + COMPUTE_BOUND        # vs float64 LSE of the logits: key rounding + lse rounding
SCORE_BOUND = 3 * ULP / 2 + COMPUTE_BOUND      # vs float64 log_softmax: also the score's own key rounding


def float64_of_wire(bits, fmt):
    """The float64 value of raw wire bits (signalling NaN patterns give NaN, quietly)."""
    with np.errstate(invalid="ignore"):
        if fmt == "fp32":
            return np.asarray(bits, np.uint32).view(np.float32).astype(np.float64)
        if fmt == "fp16":
            return np.asarray(bits, np.uint16).view(np.float16).astype(np.float64)
        return (np.asarray(bits, np.uint32) << 16).view(np.float32).astype(np.float64)


def reference_fixed(x, out_bits, frac_bits):
    """Round half away from zero, saturate, NaN/-inf -> min code, in float64 (exact for these magnitudes)."""
    top = 2.0 ** (out_bits - 1) - 1
    with np.errstate(invalid="ignore", over="ignore"):
        mag = np.minimum(np.floor(np.abs(x) * 2.0 ** frac_bits + 0.5), top)
    val = np.where(x < 0, -mag, mag)
    return np.where(np.isnan(x) | (x == -np.inf), -(2 ** (out_bits - 1)), val).astype(np.int64)


def reference_log_softmax(x):
    x = np.where(np.isnan(x), -np.inf, np.asarray(x, np.float64))
    top = np.max(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):   # all -inf rows give -inf / NaN, checked apart
        lse = np.log(np.sum(np.exp(x - top), axis=-1)) + top[..., 0]
        return lse, x - lse[..., None]


# ---------------------------------------------------------------------------------------------- wire + convert

@pytest.mark.parametrize("fmt", ["bf16", "fp16"])
def test_to_wire_rounds_to_nearest_even(fmt):
    torch = require("torch")
    rng = np.random.default_rng(seeded(0))
    x = np.concatenate([rng.standard_normal(20000).astype(np.float32) * 50,
                        np.array([0.0, -0.0, np.inf, -np.inf, 3.4e38, -3.4e38, 65519.0, 65520.0, 1e-8, 2.0 ** -24,
                                  1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11],
                                 dtype=np.float32)])
    dtype = torch.bfloat16 if fmt == "bf16" else torch.float16
    want = torch.from_numpy(x).to(dtype).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(nm.to_wire(x, fmt), want)
    assert np.isnan(float64_of_wire(nm.to_wire(np.float32([np.nan]), fmt), fmt)).all()


def test_to_wire_fp32_is_identity():
    x = np.float32([1.5, -0.0, np.nan, np.inf, 1e-45])
    assert np.array_equal(nm.to_wire(x, "fp32"), x.view(np.uint32))


@pytest.mark.parametrize("fmt", ["bf16", "fp16"])
@pytest.mark.parametrize("out_bits,frac_bits", [(20, 12), (32, 12), (8, 3), (16, 0)])
def test_float_to_fixed_exhaustive_16bit(fmt, out_bits, frac_bits):
    bits = np.arange(1 << 16, dtype=np.uint32)
    x = float64_of_wire(bits, fmt)
    assert np.array_equal(nm.float_to_fixed(bits, fmt, out_bits, frac_bits), reference_fixed(x, out_bits, frac_bits))


@pytest.mark.parametrize("out_bits,frac_bits", [(20, 12), (32, 12), (12, 11)])
def test_float_to_fixed_fp32(out_bits, frac_bits):
    rng = np.random.default_rng(seeded(1))
    bits = rng.integers(0, 1 << 32, 200000, dtype=np.uint64).astype(np.uint32)
    # ties and the saturation edge: values k/2^(F+1) and around 2^(out_bits-1-F)
    ties = (rng.integers(-(1 << 20), 1 << 20, 20000) + 0.5) / 2.0 ** frac_bits
    edge = 2.0 ** (out_bits - 1 - frac_bits) * (1 + rng.uniform(-1e-3, 1e-3, 2000))
    extra = np.concatenate([ties, edge, -edge]).astype(np.float32).view(np.uint32)
    bits = np.concatenate([bits, extra])
    x = float64_of_wire(bits, "fp32")
    assert np.array_equal(nm.float_to_fixed(bits, "fp32", out_bits, frac_bits),
                          reference_fixed(x, out_bits, frac_bits))


def test_beam_score_to_fixed_rules():
    s = np.float32([0.0, -1.5, np.nan, -np.inf, np.inf, 1e30, -1e30, -2.0 ** -14, 2.0 ** -13])
    got = nm.beam_score_to_fixed(s, CFG)
    top = 2 ** 31 - 1
    assert got.tolist() == [0, -6144, SCORE_NEG_INF, SCORE_NEG_INF, top, top, -top, 0, 1]


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="fmt"):
        nm.to_wire([1.0], "fp8")
    with pytest.raises(ValueError, match="out_bits"):
        nm.float_to_fixed(np.uint32([0]), "fp32", 40, 12)
    with pytest.raises(ValueError, match="bits"):
        nm.float_to_fixed(np.uint32([1 << 20]), "bf16", 20, 12)
    with pytest.raises(ValueError, match="keys"):
        nm.rows_lse(np.array([[1 << 30]]), CFG)
    with pytest.raises(ValueError, match="keys"):
        nm.rows_lse(np.zeros(4, np.int64), CFG)
    with pytest.raises(ValueError, match="lse_fix"):
        nm.normalise(np.zeros((2, 3), np.int64), 0, np.zeros(3), False, CFG)


# ------------------------------------------------------------------------------------------ beat-by-beat model

def beat_by_beat_lse(keys, cfg):
    """The fabric's algorithm as written in hw/logsumexp.py, one beat at a time, in Python ints."""
    w = lse_widths(cfg)
    P, K = cfg.lanes, w.acc_ways
    live, c, m = nm.lane_terms(np.asarray(keys, np.int64), cfg)
    sentinel = -(1 << (w.exp_int_bits - 1))
    acc, acc_e = [0] * K, [0] * K
    run = sentinel
    beats = -(-len(keys) // P)
    for b in range(beats):
        lanes = range(b * P, min(len(keys), (b + 1) * P))
        e_beat = max([int(c[i]) for i in lanes if live[i]], default=sentinel)
        run = e_beat if b == 0 else max(run, e_beat)
        x = sum((int(m[i]) << (w.acc_frac - w.exp_frac)) >> (run - int(c[i])) for i in lanes if live[i])
        way = b % K
        acc[way] = (0 if b < K else acc[way] >> (run - acc_e[way])) + x
        acc_e[way] = run
    if run == sentinel:
        return 0, True
    d = sum(acc[p] >> (run - acc_e[p]) for p in range(min(beats, K)))
    return nm.finish_lse(d, run, cfg), False


@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 8])
def test_vectorised_model_matches_beat_by_beat(lanes):
    cfg = CoreConfig(lanes=lanes, vocab_max=4096)
    rng = np.random.default_rng(seeded(lanes))
    for n in range(150):
        V = int(rng.integers(1, 120))
        x = rng.standard_normal(V) * rng.choice([0.01, 1, 10, 60])
        if n % 4 == 1:
            x = np.sort(x)
        keys = nm.logits_to_keys(x.astype(np.float32), cfg)
        if n % 5 == 2:
            keys[rng.random(V) < 0.6] = cfg.key_neg_inf
        if n % 17 == 3:
            keys[:] = cfg.key_neg_inf
        assert nm.row_lse(keys, cfg) == beat_by_beat_lse(keys, cfg), (n, V)


# ------------------------------------------------------------------------------------------ error vs float64

def assert_within_bounds(x, beam_scores=None):
    """Scores of the model vs float64 log_softmax (+ beam score) of the fp32 logits."""
    x = np.asarray(x, np.float32)
    B = x.shape[0]
    s32 = np.zeros(B, np.float32) if beam_scores is None else np.asarray(beam_scores, np.float32)
    keys = nm.logits_to_keys(x, CFG)
    lse, neg_inf = nm.rows_lse(keys, CFG)
    s_fix = nm.beam_score_to_fixed(s32, CFG)
    scores = nm.normalise(keys, s_fix, lse, neg_inf, CFG)
    ref_lse, ref = reference_log_softmax(x)
    ref = ref + s32[:, None].astype(np.float64)
    finite = np.isfinite(ref)
    assert np.array_equal(scores == SCORE_NEG_INF, ~finite)
    lse_err = np.abs(lse / 2.0 ** F - ref_lse)[~neg_inf]
    score_err = np.abs(scores / 2.0 ** F - ref)[finite]
    s_err = np.abs(s_fix / 2.0 ** F - s32).max()
    assert lse_err.max(initial=0) <= LSE_BOUND, lse_err.max()
    assert score_err.max(initial=0) <= SCORE_BOUND + s_err, score_err.max()
    # The computation alone: lse against the float64 LSE of the keys as the fabric sees them.
    kq = np.where(keys == CFG.key_neg_inf, -np.inf, keys / 2.0 ** F)
    comp_err = np.abs(lse / 2.0 ** F - reference_log_softmax(kq)[0])[~neg_inf]
    assert comp_err.max(initial=0) <= ULP / 2 + COMPUTE_BOUND, comp_err.max()
    return score_err.max(initial=0)


@pytest.mark.parametrize("scale", [0.01, 1.0, 5.0, 30.0])
def test_random_rows_within_bound(scale):
    rng = np.random.default_rng(seeded(int(scale * 100)))
    x = np.clip(rng.standard_normal((8, 5000)) * scale, -100, 100)
    assert_within_bounds(x, rng.uniform(-50, 0, 8))


def test_full_vocabulary_rows_within_bound():
    """V = vocab_max: dominant logit over a sea of small terms, all equal, wide spread, LLM-like, rising."""
    rng = np.random.default_rng(seeded(2))
    V = CFG.vocab_max
    x = np.empty((5, V))
    x[0] = -20.0
    x[0, 12345] = 0.0
    x[1] = 3.25
    x[2] = rng.uniform(-100, 100, V)
    x[3] = rng.standard_normal(V) * 2.5 - 4
    x[3, rng.integers(V, size=5)] = 15
    x[4] = np.sort(rng.uniform(-100, 100, V))
    assert_within_bounds(x)


def test_special_lanes_and_rows():
    x = np.array([[np.nan, -np.inf, 1.0, 2.0, np.nan, -5.0],
                  [-np.inf] * 6,
                  [np.nan] * 6,
                  [100.0, -100.0, np.nan, -np.inf, 99.0, -np.inf],
                  [7.0, -np.inf, -np.inf, -np.inf, -np.inf, -np.inf]])
    assert_within_bounds(x)
    keys = nm.logits_to_keys(x.astype(np.float32), CFG)
    lse, neg_inf = nm.rows_lse(keys, CFG)
    assert neg_inf.tolist() == [False, True, True, False, False]
    scores = nm.normalise(keys, np.zeros(5, np.int64), lse, neg_inf, CFG)
    assert (scores[1:3] == SCORE_NEG_INF).all()
    assert scores[4, 0] == 0            # the only finite logit has log-probability 0


def test_single_logit_rows():
    for v in [-100.0, -1.0, 0.0, 0.3, 127.0]:
        assert_within_bounds(np.array([[v]]))


def test_normalise_saturates_and_propagates_neg_inf():
    top = 2 ** 31 - 1
    keys = np.array([[CFG.key_max, CFG.key_neg_inf, -5, 0]])
    got = nm.normalise(keys, top, -top, False, CFG)
    assert got.tolist() == [[top, SCORE_NEG_INF, top, top]]
    got = nm.normalise(keys, -top, top, False, CFG)
    assert got.tolist() == [[-top, SCORE_NEG_INF, -top, -top]]
    assert (nm.normalise(keys, SCORE_NEG_INF, 0, False, CFG) == SCORE_NEG_INF).all()
    assert (nm.normalise(keys, 0, 0, True, CFG) == SCORE_NEG_INF).all()
    assert nm.normalise(keys, 100, 40, False, CFG).tolist() == [[CFG.key_max + 60, SCORE_NEG_INF, 55, 60]]


def test_derived_bound_is_below_target():
    assert SCORE_BOUND + ULP / 2 < 1e-3
    assert math.isclose(lse_widths(CFG).acc_frac, CFG.token_bits + 16)
