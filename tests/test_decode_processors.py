"""Logits processors as row edits, and the re-ranked backend step, against plain float64 / plain Python
references (no transformers needed; tests/test_hf_parity.py compares whole searches with generate)."""
import numpy as np
import pytest

from beamstream import get_backend
from beamstream.backends.numpy_backend import NumpyBackend
from beamstream.decode.processors import Processors, RowEdits
from beamstream.decode.rerank import EditedSteps
from conftest import seeded


def penalise(y, p):
    return y * p if y < 0 else y / p


def ref_log_softmax(row):
    row = np.asarray(row, np.float64)
    top = row.max()
    return row - (top + np.log(np.sum(np.exp(row - top))))


def ref_beam_step(x, s, k, edits, p):
    """float64: log_softmax, the edits on it, + beam score; stable sort (smaller flat index first on ties)."""
    b, v = x.shape
    out = []
    for r in range(b):
        lp = ref_log_softmax(x[r])
        for t in edits[r].penalised:
            lp[t] = penalise(lp[t], p)
        for t in edits[r].banned:
            lp[t] = -np.inf
        out.append(lp + np.float64(np.float32(s[r])))
    flat = np.concatenate(out)
    order = np.argsort(-flat, kind="stable")[:k]
    return flat[order], order


def ref_logits_step(row, k, edits, p):
    x = np.asarray(row, np.float64).copy()
    for t in edits.penalised:
        x[t] = penalise(x[t], p)
    for t in edits.banned:
        x[t] = -np.inf
    order = np.argsort(-x, kind="stable")[:k]
    return ref_log_softmax(x)[order], order


def random_edits(rng, v, n_rows):
    out = []
    for _ in range(n_rows):
        toks = rng.choice(v, size=int(rng.integers(0, 12)), replace=False)
        cut = int(rng.integers(0, toks.size + 1))
        out.append(RowEdits(tuple(sorted(toks[:cut].tolist())), tuple(sorted(toks[cut:].tolist()))))
    return out


def adversarial_logits(rng, b, v):
    """Rows whose best tokens are the edited ones half of the time (the re-rank must look past them)."""
    x = (rng.standard_normal((b, v)) * 3).astype(np.float32)
    return x


@pytest.mark.parametrize("backend_name", ["numpy", "hwmodel"])
@pytest.mark.parametrize("penalty", [1.0, 1.3, 0.6])
def test_beam_step_with_edits_matches_float64(backend_name, penalty):
    rng = np.random.default_rng(seeded(int(penalty * 10) + len(backend_name)))
    be = get_backend(backend_name)
    tol = 1e-5 if backend_name == "numpy" else 5.7e-4 * max(1.0, penalty)
    fallbacks = 0
    for case in range(120):
        b, v = int(rng.integers(1, 5)), int(rng.choice([40, 300, 3000]))
        x = adversarial_logits(rng, b, v)
        s = -rng.exponential(2.0, b)
        edits = random_edits(rng, v, b)
        if case % 2:                                  # edit each row's own best tokens
            edits = [RowEdits(tuple(np.argsort(-x[r])[:3].tolist()), tuple(np.argsort(-x[r])[3:6].tolist()))
                     for r in range(b)]
        k = min(2 * b, b * v)
        steps = EditedSteps(be, Processors(repetition_penalty=penalty))
        got = steps.beam_step(x, s, k, edits)
        want_scores, want_idx = ref_beam_step(x, s, k, edits, penalty)
        np.testing.assert_allclose(got.scores, want_scores, atol=tol, rtol=0, err_msg=f"case {case}")
        if backend_name == "numpy":
            np.testing.assert_array_equal(got.beams * v + got.tokens, want_idx, err_msg=f"case {case}")
        else:                                          # fixed point: near-ties may swap, the set's scores agree
            ref_all = np.concatenate([ref_beam_step(x, s, b * v, edits, penalty)[0]])
            assert got.scores[-1] >= ref_all[k - 1] - 2 * tol
        n_edits = sum(len(e.banned) + len(e.penalised) for e in edits)
        fallbacks += steps.fallbacks if n_edits <= 3 * k + 16 else 0     # K' = K + edits, when not capped
        assert steps.steps == 1 and steps.edited == int(any(edits))
    if backend_name == "numpy" and penalty >= 1.0:
        assert fallbacks == 0          # no max_k, lowering edits: K + (edits) candidates always prove the answer


def test_fallback_when_the_fabric_returns_too_few_candidates():
    """hwmodel's K_MAX = 16: ban a row's 40 best tokens and the wider top-K cannot prove the answer; the host pass
    then gives it (and is counted)."""
    rng = np.random.default_rng(seeded(3))
    x = (rng.standard_normal((2, 2000)) * 3).astype(np.float32)
    banned = tuple(np.argsort(-x[0])[:40].tolist())
    edits = [RowEdits(banned, ()), RowEdits(tuple(np.argsort(-x[1])[:40].tolist()), ())]
    steps = EditedSteps(get_backend("hwmodel"), Processors())
    got = steps.beam_step(x, np.zeros(2), 4, edits)
    want_scores, want_idx = ref_beam_step(x, np.zeros(2), 4, edits, 1.0)
    np.testing.assert_array_equal(got.beams * 2000 + got.tokens, want_idx)
    np.testing.assert_allclose(got.scores, want_scores, atol=1e-5)
    assert steps.fallbacks == 1


@pytest.mark.parametrize("backend_name", ["numpy", "hwmodel"])
@pytest.mark.parametrize("penalty", [1.0, 1.5, 0.5])
def test_logits_step_with_edits_matches_float64(backend_name, penalty):
    rng = np.random.default_rng(seeded(7 + int(penalty * 4)))
    be = get_backend(backend_name)
    tol = 1e-5 if backend_name == "numpy" else 5.7e-4 * max(1.0, penalty) * 2
    for case in range(150):
        v = int(rng.choice([30, 500, 5000]))
        x = (rng.standard_normal((1, v)) * 3).astype(np.float32)
        edits = random_edits(rng, v, 1)[0]
        if case % 2:
            top = np.argsort(-x[0])
            edits = RowEdits(tuple(top[:2].tolist()), tuple(top[2:8].tolist()))
        k = int(rng.choice([1, 3, 8]))
        steps = EditedSteps(be, Processors(repetition_penalty=penalty))
        logp, tokens, values = steps.logits_step(x, k, edits)
        want_logp, want_tokens = ref_logits_step(x[0], k, edits, penalty)
        np.testing.assert_array_equal(tokens, want_tokens, err_msg=f"case {case}")   # ranking uses exact logits
        np.testing.assert_allclose(logp, want_logp, atol=tol, rtol=0, err_msg=f"case {case}")


def test_logits_step_renormalises_after_the_edits():
    """Banning the likeliest token raises every other token's log-probability (the row's normaliser moves)."""
    x = np.log(np.array([[0.7, 0.2, 0.1]], np.float32))
    logp, tokens, _ = EditedSteps(NumpyBackend(), Processors()).logits_step(x, 2, RowEdits((0,), ()))
    assert tokens.tolist() == [1, 2]
    np.testing.assert_allclose(np.exp(logp), [2 / 3, 1 / 3], atol=1e-6)


# -- the processors' edits against brute force --------------------------------------------------------------------
def brute_ngram_bans(seq, n):
    if len(seq) < n:
        return set()
    grams = [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]
    prefix = tuple(seq[len(seq) - n + 1:]) if n > 1 else ()
    return {g[-1] for g in grams if g[:-1] == prefix}


def test_no_repeat_ngram_bans_match_brute_force():
    rng = np.random.default_rng(seeded(0))
    for _ in range(400):
        n = int(rng.integers(1, 5))
        seq = rng.integers(0, 4, int(rng.integers(1, 20))).tolist()
        got = Processors(no_repeat_ngram_size=n).edits(seq, 1).banned
        assert set(got) == brute_ngram_bans(seq, n), (seq, n)


def test_edits_of_each_processor():
    p = Processors.build(bad_words_ids=[[5], [1, 2], [3, 4, 6], [9]], suppress_tokens=[8], min_new_tokens=3,
                         min_length=4, eos=(9,), repetition_penalty=1.5)
    assert p.bad_words_ids == ((5,), (1, 2), (3, 4, 6))          # a one-token bad word that is an EOS is dropped
    e = p.edits([0, 3, 4], prompt_len=2)
    assert set(e.banned) == {5, 6, 8, 9}                          # 9: one new token < 3 (and length 3 < 4)
    assert set(e.penalised) == {0, 3, 4}
    e = p.edits([0, 1, 7, 7, 1], prompt_len=1)
    assert set(e.banned) == {5, 8, 2}                             # 4 new tokens, length 5: EOS allowed
    assert set(e.penalised) == {0, 1, 7}
    assert not Processors.build(min_new_tokens=3).active          # no EOS: min lengths do nothing (as generate)


@pytest.mark.parametrize("kwargs,match", [
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(repetition_penalty=float("nan")), "repetition_penalty"),
    (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"),
    (dict(bad_words_ids=[]), "bad_words_ids"),
    (dict(bad_words_ids=[[1], []]), "bad_words_ids"),
    (dict(bad_words_ids=[[-1]]), "bad_words_ids"),
    (dict(suppress_tokens=[1.5]), "suppress_tokens"),
    (dict(min_new_tokens=-2), "min_new_tokens"),
    (dict(min_length=1.5), "min_length"),
])
def test_processor_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Processors.build(**kwargs)


def test_token_ids_outside_the_vocabulary_are_refused():
    from beamstream import beam_search
    from beamstream.models.toy import make_table, toy_fn
    fn = toy_fn(make_table(50, rows=8))
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        beam_search(fn, [1], num_beams=2, max_new_tokens=3, bad_words_ids=[[60]])
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        beam_search(fn, [1], num_beams=2, max_new_tokens=3, suppress_tokens=[50])


# -- stop strings: transformers' StopStringCriteria examples --------------------------------------------------------
class PieceTokenizer:
    """Token i is the string PIECES[i]; "abcdef" (the prefix transformers decodes before a token) is token 0."""
    PIECES = ["abcdef", "st", "op", "stop", "opera", "sto", "pper", "las", "topper", "s", "to", "pped", "at", "tion",
              " stops", "x"]

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [self.PIECES.index(text)]}

    def convert_ids_to_tokens(self, ids):
        return [self.PIECES[i] for i in ids] if isinstance(ids, list) else self.PIECES[ids]

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens)


@pytest.mark.parametrize("pieces,hit", [
    (["st", "op"], True), (["stop"], True), (["st", "opera"], True), (["sto", "pper"], True),
    (["las", "topper"], True), (["s", "to", "pped"], True),
    (["x", " stops"], True), (["st", "op", "x"], False),
    (["stop", "at"], False), (["st", "op", "at"], False), (["st", "opera", "tion"], False),
])
def test_stop_string_must_overlap_the_last_token(pieces, hit):
    from beamstream.decode.stopping import Stopping
    tok = PieceTokenizer()
    stop = Stopping((), 10, stop_strings=["stop"], tokenizer=tok)
    seq = [tok.PIECES.index(p) for p in pieces]
    assert stop.completes(seq) is hit
    assert stop.hit(seq[-1], 1, lambda: seq) is hit
