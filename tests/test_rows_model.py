"""`rows_fixed` (the core's per-row mode) against `step_fixed` run on each row alone, padding included."""
import numpy as np
import pytest

from beamstream.hw.interface import SCORE_NEG_INF, CoreConfig
from beamstream.hwmodel.core import hw_step, rows_fixed, step_fixed
from conftest import seeded

CFG = CoreConfig(k_max=8, beams_max=5)


@pytest.mark.parametrize("seed", range(6))
def test_each_row_is_that_row_stepped_alone(seed):
    rng = np.random.default_rng(seeded(seed))
    beams, vocab, k = int(rng.integers(1, 6)), int(rng.integers(1, 12)), int(rng.integers(1, 9))
    logits = rng.integers(-3, 3, (beams, vocab)).astype(np.float32)        # ties within and across rows
    logits[rng.random((beams, vocab)) < 0.2] = -np.inf
    scores = rng.choice([0.0, -1.0, -6e5, 6e5, -np.inf], beams).astype(np.float32)   # incl. saturating rows
    got_scores, got_beams, got_tokens = rows_fixed(logits, scores, k, CFG)
    assert got_scores.shape == got_beams.shape == got_tokens.shape == (beams, k)
    real = min(k, vocab)
    for b in range(beams):
        want = step_fixed(logits[b:b + 1], scores[b:b + 1], real, CFG)
        assert got_scores[b, :real].tolist() == want[0].tolist()
        assert got_tokens[b, :real].tolist() == want[2].tolist()
        assert (got_beams[b, :real] == b).all()
        assert (got_scores[b, real:] == SCORE_NEG_INF).all() and not got_tokens[b, real:].any()
        assert not got_beams[b, real:].any()


def test_hw_step_per_row_checks_like_a_step():
    with pytest.raises(ValueError, match="k=9"):
        hw_step(np.zeros((1, 20), np.float32), np.zeros(1), 9, CFG, per_row=True)
    rows = hw_step(np.zeros((2, 3), np.float32), np.zeros(2), 5, CFG, per_row=True)
    assert rows[2].tolist() == [[0, 1, 2, 0, 0], [0, 1, 2, 0, 0]]
