"""The end-to-end step model, its wire packing, and the hwmodel backend (no RTL here)."""
import numpy as np
import pytest

from beamstream.backends import get_backend
from beamstream.backends.numpy_backend import NumpyBackend
from beamstream.hw.interface import SCORE_NEG_INF, CoreConfig
from beamstream.hwmodel.core import (hw_step, pack_step, result_buffer, scores_to_float, step_buffer, step_fixed,
                                     unpack_results)
from beamstream.hwmodel.numerics import beam_score_to_fixed, logits_to_keys, normalise, rows_lse, to_wire
from conftest import seeded

# fp16 with P = 3 has 48-bit beats: the header's fp32 straddles lanes 0 and 1.
CONFIGS = [CoreConfig(lanes=4, k_max=16, beams_max=8, vocab_max=4096),
           CoreConfig(lanes=1, k_max=8, beams_max=4, vocab_max=100),
           CoreConfig(lanes=2, k_max=4, beams_max=4, vocab_max=100, fmt="bf16"),
           CoreConfig(lanes=3, k_max=16, beams_max=4, vocab_max=100, fmt="fp16")]


def random_step(rng, beams, vocab, specials=False):
    logits = rng.normal(0.0, 4.0, (beams, vocab)).astype(np.float32)
    scores = -rng.exponential(3.0, beams).astype(np.float32)
    if specials:
        pick = rng.random((beams, vocab))
        logits[pick < 0.1] = np.nan
        logits[(pick >= 0.1) & (pick < 0.2)] = -np.inf
        logits[(pick >= 0.2) & (pick < 0.25)] = np.inf
        logits[0] = -np.inf
        scores[-1] = -np.inf
    return logits, scores


def reference_fixed(logits, scores, k, cfg):
    """Score every (b, v) with the numerics model, then sort the whole step: (score desc, b*V + v asc)."""
    keys = logits_to_keys(logits, cfg)
    lse, neg_inf = rows_lse(keys, cfg)
    all_scores = normalise(keys, beam_score_to_fixed(scores, cfg), lse, neg_inf, cfg).ravel()
    order = np.lexsort((np.arange(all_scores.size), -all_scores))[:k]
    return all_scores[order], order // logits.shape[1], order % logits.shape[1]


# -- wire formats --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug())
def test_pack_step_lays_out_header_and_lanes_as_beats(cfg):
    rng = np.random.default_rng(seeded(1))
    beams, vocab = 3, 2 * cfg.lanes + 1
    logits, scores = random_step(rng, beams, vocab, specials=True)
    buf = step_buffer(cfg, beams, vocab)
    buf[...] = 0x5A5A                                  # stale content must be overwritten everywhere
    assert pack_step(logits, scores, cfg, buf) is buf
    beat_bytes = cfg.beat_bits // 8
    beats = buf.tobytes()
    assert len(beats) == beams * cfg.beats_per_row(vocab) * beat_bytes
    lane_bytes = cfg.lane_width // 8
    wire = to_wire(logits, cfg.fmt)
    for b in range(beams):
        row = beats[b * cfg.beats_per_row(vocab) * beat_bytes:][:cfg.beats_per_row(vocab) * beat_bytes]
        header = row[:beat_bytes]
        assert header[:4] == np.float32(scores[b]).tobytes() and header[4:] == bytes(beat_bytes - 4)
        lanes = np.frombuffer(row[beat_bytes:], dtype=f"<u{lane_bytes}")
        assert np.array_equal(lanes[:vocab], wire[b]) and not lanes[vocab:].any()


def test_pack_step_rejects_a_buffer_of_another_shape():
    cfg = CONFIGS[0]
    logits, scores = random_step(np.random.default_rng(seeded(0)), 2, 9)
    with pytest.raises(ValueError, match="out must be"):
        pack_step(logits, scores, cfg, step_buffer(cfg, 2, 13))
    with pytest.raises(ValueError, match="vocab=0"):
        step_buffer(cfg, 1, 0)


def test_unpack_results_reads_the_m_axis_bit_layout():
    fields = [(-5, 3, 17), (SCORE_NEG_INF, 0, 0), ((1 << 31) - 1, 255, (1 << 24) - 1), (1 << 12, 7, 1 << 23)]
    words = np.array([(t << 40) | (b << 32) | (s & 0xFFFFFFFF) for s, b, t in fields], dtype="<u8")
    out = tuple(np.full(len(words), -1, np.int64) for _ in range(3))
    got = unpack_results(words, out=out)
    assert all(g is o for g, o in zip(got, out))
    assert [tuple(int(a[i]) for a in got) for i in range(len(fields))] == fields
    assert result_buffer(4).dtype == np.dtype("<u8")


def test_scores_to_float_maps_the_neg_inf_code():
    cfg = CoreConfig(frac_bits=12)
    got = scores_to_float(np.array([4096, -2048, SCORE_NEG_INF, 1]), cfg)
    assert got.tolist() == [1.0, -0.5, -np.inf, 2.0 ** -12]


# -- the step model ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug())
def test_step_model_equals_sorting_every_score(cfg):
    """Per-row top-k then global top-k (the fabric's structure) must equal one sort of the whole step."""
    rng = np.random.default_rng(seeded(2))
    for trial in range(12):
        beams = int(rng.integers(1, cfg.beams_max + 1))
        vocab = int(rng.integers(1, 40))
        k = int(rng.integers(1, min(cfg.k_max, beams * vocab) + 1))
        logits, scores = random_step(rng, beams, vocab, specials=trial % 2 == 1)
        if trial % 3 == 2:                              # ties everywhere
            logits = np.round(logits / 4).astype(np.float32)
        got = step_fixed(logits, scores, k, cfg)
        for g, w in zip(got, reference_fixed(logits, scores, k, cfg)):
            assert np.array_equal(g, w)


def test_hw_step_applies_the_build_limits():
    cfg = CoreConfig(lanes=2, k_max=4, beams_max=2, vocab_max=10)
    logits, scores = random_step(np.random.default_rng(seeded(3)), 2, 10)
    with pytest.raises(ValueError, match="largest k"):
        hw_step(logits, scores, 5, cfg)
    with pytest.raises(ValueError, match="vocab 11"):
        hw_step(np.zeros((1, 11), np.float32), np.zeros(1), 1, cfg)
    with pytest.raises(ValueError, match="3 beams"):
        hw_step(np.zeros((3, 2), np.float32), np.zeros(3), 1, cfg)


# -- the backend ---------------------------------------------------------------------------------------------------
def test_backend_reports_its_limits_and_scales_scores():
    cfg = CoreConfig(lanes=2, k_max=4, beams_max=2, vocab_max=64, fmt="bf16")
    backend = get_backend("hwmodel", config=cfg)
    assert (backend.name, backend.max_k, backend.formats) == ("hwmodel", 4, ("bf16",))
    logits, scores = random_step(np.random.default_rng(seeded(4)), 2, 64, specials=True)
    result = backend.step(logits, scores, 4)
    fixed = hw_step(logits, scores, 4, cfg)
    assert np.array_equal(result.beams, fixed[1]) and np.array_equal(result.tokens, fixed[2])
    assert np.array_equal(result.scores, np.where(fixed[0] == SCORE_NEG_INF, -np.inf, fixed[0] / 4096.0))
    with pytest.raises(ValueError, match="config"):
        get_backend("hwmodel", config={"lanes": 4})
    assert get_backend("hwmodel").config == CoreConfig()


@pytest.mark.parametrize("fmt", ["fp32", "bf16", "fp16"])
def test_backend_agrees_with_the_float64_reference(fmt):
    """Scores within the numerics bound of float64 on the logits the core receives (after the wire format), and
    the same ranking wherever float64 scores differ by more than twice the bound (logits in the stated range)."""
    bound = 5.7e-4    # docs/numerics.md §5: score vs float64, beam score rounding included (F = 12)
    cfg = CoreConfig(lanes=4, k_max=16, beams_max=4, vocab_max=5000, fmt=fmt)
    hw, ref = get_backend("hwmodel", config=cfg), NumpyBackend()
    rng = np.random.default_rng(seeded(5))
    for _ in range(6):
        beams, vocab = int(rng.integers(1, 5)), int(rng.integers(100, 5000))
        logits = rng.normal(0.0, 3.0, (beams, vocab)).astype(np.float32)
        scores = -rng.exponential(5.0, beams).astype(np.float32)
        received = to_float(to_wire(logits, fmt), fmt)
        full = ref.step(received, scores, beams * vocab)
        exact = np.empty(beams * vocab)
        exact[full.beams * vocab + full.tokens] = full.scores
        got = hw.step(logits, scores, 16)
        mine = exact[got.beams * vocab + got.tokens]
        assert np.abs(got.scores - mine).max() <= bound
        assert np.all(np.diff(mine) <= 2 * bound)              # best first, up to near-ties
        chosen = np.zeros(exact.size, bool)
        chosen[got.beams * vocab + got.tokens] = True
        assert exact[~chosen].max() <= mine.min() + 2 * bound  # nothing clearly better was left out


def to_float(wire, fmt):
    """Wire bits back to float32 (bf16: the high half of an fp32)."""
    if fmt == "fp32":
        return wire.view(np.float32)
    if fmt == "fp16":
        return wire.view(np.float16).astype(np.float32)
    return (wire.astype(np.uint32) << 16).view(np.float32)
