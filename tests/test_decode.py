"""Decoders on plain callables: argument errors, the step protocol, greedy, sampling (no transformers needed)."""
import subprocess
import sys

import numpy as np
import pytest

import beamstream
from beamstream import beam_search, greedy, sample
from beamstream.backends.numpy_backend import NumpyBackend
from beamstream.models.toy import make_table, toy_fn


class Recorder:
    """A backend that records each step's (B, V, k) and forwards to numpy; optional max_k."""

    name = "recorder"
    formats = ("fp32",)

    def __init__(self, max_k=None):
        self.max_k = max_k
        self.inner = NumpyBackend()
        self.calls = []

    def step(self, logits, beam_scores, k):
        self.calls.append((np.shape(logits)[0], np.shape(logits)[1], k))
        return self.inner.step(logits, beam_scores, k)


TABLE = make_table(50, rows=16, seed=3)
FN = toy_fn(TABLE)


def log_softmax(row):
    row = np.asarray(row, np.float64)
    return row - (row.max() + np.log(np.exp(row - row.max()).sum()))


# -- argument errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(num_beams=0), "num_beams"),
    (dict(num_beams=2, num_return_sequences=3), "num_return_sequences"),
    (dict(num_return_sequences=0), "num_return_sequences"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(early_stopping="sometimes"), "early_stopping"),
    (dict(length_penalty=float("nan")), "length_penalty"),
    (dict(eos_token_id=50), "eos_token_id"),
    (dict(eos_token_id=-1), "eos_token_id"),
    (dict(eos_token_id="x"), "eos_token_id"),
    (dict(backend="nope"), "known backends"),
])
def test_beam_search_argument_errors(kwargs, match):
    args = dict(num_beams=2, max_new_tokens=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        beam_search(FN, [1, 2], **args)


@pytest.mark.parametrize("ids", [[], np.array([], dtype=np.int64), [[]], [1.5, 2], [-1], np.array([1.0, 2.0])])
def test_bad_input_ids(ids):
    with pytest.raises(ValueError, match="input_ids"):
        beam_search(FN, ids, num_beams=2, max_new_tokens=2)


@pytest.mark.parametrize("fn,match", [
    (lambda p: np.zeros((len(p) + 1, 50), np.float32), "shape"),
    (lambda p: np.zeros(50, np.float32), "shape"),
    (lambda p: np.zeros((len(p), 50), np.int64), "floating"),
    (lambda p: np.zeros((len(p), 50 if len(p) == 1 else 49), np.float32), "length 49"),
])
def test_bad_model_logits(fn, match):
    with pytest.raises(ValueError, match=match):
        beam_search(fn, [1, 2], num_beams=2, max_new_tokens=3)
    if match != "length 49":
        with pytest.raises(ValueError, match=match):
            greedy(fn, [1, 2], max_new_tokens=3)


def test_backend_max_k_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match=r"k=12.*num_beams=4|num_beams=4.*k=12"):
        beam_search(FN, [1], num_beams=4, max_new_tokens=2, eos_token_id=[3, 4], backend=Recorder(max_k=8))
    with pytest.raises(ValueError, match="top_k"):
        sample(FN, [1], max_new_tokens=2, top_k=20, backend=Recorder(max_k=8))
    with pytest.raises(ValueError, match="k=50"):
        sample(FN, [1], max_new_tokens=2, top_k=0, backend=Recorder(max_k=8))


def test_the_sim_backend_without_its_extras_is_a_clear_error():
    """As on a board, where amaranth is not installed: a RuntimeError that names the extra, not an import crash."""
    script = ("import sys; sys.modules['amaranth'] = None\n"      # an import of amaranth now fails
              "import beamstream\n"
              "try:\n    beamstream.get_backend('sim')\n"
              "except RuntimeError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'beamstream[sim]'" in out.stdout and "amaranth" in out.stdout, out.stdout


def test_step_k_larger_than_b_times_v_is_rejected():
    with pytest.raises(ValueError, match="k=7"):
        NumpyBackend().step(np.zeros((2, 3), np.float32), np.zeros(2), 7)


def test_vocabulary_too_small_for_the_candidates():
    with pytest.raises(ValueError, match="too small"):
        beam_search(lambda p: np.zeros((len(p), 1), np.float32), [0], num_beams=2, max_new_tokens=2)


# -- the step protocol ------------------------------------------------------------------------------------------
def test_first_step_passes_only_the_live_beam_then_num_beams():
    rec = Recorder()
    seen = []

    def fn(prefixes):
        seen.append([list(p) for p in prefixes])
        return FN(prefixes)

    res = beam_search(fn, [4, 9], num_beams=3, max_new_tokens=5, eos_token_id=7, backend=rec)
    assert rec.calls[0] == (1, 50, 6)                      # K = max(2, 1 + 1 eos) * 3
    assert all(c == (3, 50, 6) for c in rec.calls[1:])
    assert seen[0] == [[4, 9]] and all(len(call) == 3 for call in seen[1:])
    assert all(p[:2] == [4, 9] for call in seen for p in call)
    assert res.backend == "recorder" and res.steps == len(rec.calls)
    assert len(res.sequences) == 1 and res.sequences[0][:2] == [4, 9]


def test_small_vocabulary_falls_back_to_padded_first_step():
    rec = Recorder()
    table = make_table(3, rows=8, seed=1)
    res = beam_search(toy_fn(table), [0], num_beams=4, max_new_tokens=3, num_return_sequences=4, backend=rec)
    assert rec.calls[0] == (4, 3, 8)                       # K = 8 > V = 3: the -1e9 padded beams take part
    assert len(res.sequences) == 4 and all(len(s) == 4 for s in res.sequences)


def test_scores_are_sorted_and_sequences_end_at_eos():
    res = beam_search(FN, [1, 2, 3], num_beams=5, max_new_tokens=12, eos_token_id=[7, 8], num_return_sequences=5)
    assert res.scores == sorted(res.scores, reverse=True)
    for seq in res.sequences:
        gen = seq[3:]
        assert 1 <= len(gen) <= 12
        for j, tok in enumerate(gen):
            assert tok not in (7, 8) or j == len(gen) - 1
    assert res.new_tokens == [s[3:] for s in res.sequences]


def test_beam_score_is_the_length_normalised_log_probability():
    res = beam_search(FN, [5], num_beams=3, max_new_tokens=6, length_penalty=0.7, num_return_sequences=3)
    for seq, score in zip(res.sequences, res.scores):
        total = sum(log_softmax(FN([seq[:i]])[0])[seq[i]] for i in range(1, len(seq)))
        assert score == pytest.approx(total / (len(seq) - 1) ** 0.7, abs=1e-5)


def test_batch_of_prompts_returns_one_result_each():
    prompts = [[1, 2], [3], [4, 5, 6]]
    results = beam_search(FN, prompts, num_beams=2, max_new_tokens=4)
    assert isinstance(results, list) and len(results) == 3
    for prompt, res in zip(prompts, results):
        assert res.sequences == beam_search(FN, prompt, num_beams=2, max_new_tokens=4).sequences
    two_d = beam_search(FN, np.array([[1, 2], [3, 4]]), num_beams=2, max_new_tokens=4)
    assert len(two_d) == 2


def test_num_beams_one_is_greedy():
    a = beam_search(FN, [2], num_beams=1, max_new_tokens=8, eos_token_id=4)
    b = greedy(FN, [2], max_new_tokens=8, eos_token_id=4)
    assert a.sequences == b.sequences


# -- greedy -----------------------------------------------------------------------------------------------------
def test_greedy_is_the_argmax_chain():
    seq = [3, 1]
    total = 0.0
    for _ in range(10):
        row = FN([seq])[0]
        total += log_softmax(row)[int(np.argmax(row))]
        seq = seq + [int(np.argmax(row))]
    res = greedy(FN, [3, 1], max_new_tokens=10)
    assert res.sequences == [seq] and res.scores[0] == pytest.approx(total, abs=1e-6)


def test_greedy_stops_at_eos():
    first = greedy(FN, [3, 1], max_new_tokens=10).sequences[0]
    eos = first[4]                                          # the third generated token
    res = greedy(FN, [3, 1], max_new_tokens=10, eos_token_id=eos)
    assert res.sequences[0] == first[:first.index(eos, 2) + 1]


def test_greedy_on_the_hwmodel_backend():
    hw = beamstream.get_backend("hwmodel")
    assert greedy(FN, [3, 1], max_new_tokens=6, backend=hw).sequences == \
        greedy(FN, [3, 1], max_new_tokens=6).sequences
    res = beam_search(FN, [3, 1], num_beams=4, max_new_tokens=6, backend=hw)
    assert res.backend == "hwmodel" and len(res.sequences[0]) == 8


# -- sampling ---------------------------------------------------------------------------------------------------
def test_sample_is_reproducible_per_seed():
    a = sample(FN, [1, 2], max_new_tokens=12, seed=7, num_return_sequences=3, top_k=0)
    b = sample(FN, [1, 2], max_new_tokens=12, seed=7, num_return_sequences=3, top_k=0)
    c = sample(FN, [1, 2], max_new_tokens=12, seed=8, num_return_sequences=3, top_k=0)
    assert a.sequences == b.sequences and a.scores == b.scores
    assert a.sequences != c.sequences
    assert len(a.sequences) == 3 and all(len(s) == 14 for s in a.sequences)


def test_sample_top_k_one_and_cold_temperature_are_greedy():
    g = greedy(FN, [1, 2], max_new_tokens=8).sequences
    assert sample(FN, [1, 2], max_new_tokens=8, top_k=1, seed=0).sequences == g
    assert sample(FN, [1, 2], max_new_tokens=8, temperature=1e-4, seed=0).sequences == g


# a one-step toy distribution: p = [0.4, 0.3, 0.2, 0.1] over tokens 0..3 (shuffled ids to catch index mix-ups)
PROBS = {6: 0.4, 2: 0.3, 9: 0.2, 4: 0.1}


def dist_fn(prefixes):
    row = np.full(12, -np.inf, np.float32)
    for tok, p in PROBS.items():
        row[tok] = np.log(p)
    return np.tile(row, (len(prefixes), 1))


def first_tokens(n=4000, **kwargs):
    res = sample(dist_fn, [0], max_new_tokens=1, num_return_sequences=n, seed=11, **kwargs)
    toks = np.array([s[1] for s in res.sequences])
    return {int(t): float(np.mean(toks == t)) for t in np.unique(toks)}


def test_sample_frequencies_follow_the_distribution():
    freq = first_tokens(top_k=0)
    assert set(freq) == set(PROBS)
    for tok, p in PROBS.items():
        assert freq[tok] == pytest.approx(p, abs=0.035)


def test_sample_top_k_support():
    assert set(first_tokens(top_k=2)) == {6, 2}
    freq = first_tokens(top_k=3)
    assert set(freq) == {6, 2, 9}
    assert freq[6] == pytest.approx(0.4 / 0.9, abs=0.035)


def test_sample_top_p_support():
    # transformers' rule: ascending cumulative [0.1, 0.3, 0.6, 1.0]; drop those <= 1 - top_p
    assert set(first_tokens(top_p=0.5, top_k=0)) == {6, 2}            # drops 0.1 and 0.2 (cum 0.1, 0.3 <= 0.5)
    assert set(first_tokens(top_p=0.75, top_k=0)) == {6, 2, 9}        # drops 0.1 (cum 0.1 <= 0.25)
    assert set(first_tokens(top_p=0.3, top_k=0)) == {6}               # drops cum <= 0.7: only 0.4 stays
    assert set(first_tokens(top_p=0.01, top_k=0)) == {6}              # always keeps the most likely


def test_sample_argument_errors():
    for kwargs, match in [(dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(temperature=0), "temperature"),
                          (dict(top_k=-1), "top_k"), (dict(seed=-3), "seed"), (dict(num_return_sequences=0),
                                                                                 "num_return_sequences")]:
        with pytest.raises(ValueError, match=match):
            sample(FN, [1], max_new_tokens=2, **kwargs)


def test_sample_min_p_support():
    # min_p keeps tokens at least min_p times as likely as the likeliest (0.4): 0.2 / 0.4 = 0.5
    assert set(first_tokens(top_k=0, min_p=0.45)) == {6, 2, 9}
    assert set(first_tokens(top_k=0, min_p=0.55)) == {6, 2}
    assert set(first_tokens(top_k=0, min_p=1.0)) == {6}


def test_sample_applies_processors_before_the_warpers():
    """suppress_tokens removes the likeliest token; the others renormalise (transformers' order: processors,
    then temperature / top_k / top_p)."""
    freq = first_tokens(top_k=2, suppress_tokens=[6])
    assert set(freq) == {2, 9}
    assert freq[2] == pytest.approx(0.3 / 0.5, abs=0.035)
    g = greedy(FN, [1, 2], max_new_tokens=8, no_repeat_ngram_size=1, repetition_penalty=1.5).sequences
    assert sample(FN, [1, 2], max_new_tokens=8, top_k=1, seed=0, no_repeat_ngram_size=1,
                  repetition_penalty=1.5).sequences == g
    assert len(set(g[0])) == len(g[0])            # no_repeat_ngram_size=1: no token twice


def test_sample_scores_are_log_probabilities_of_the_processed_distribution():
    res = sample(dist_fn, [0], max_new_tokens=1, top_k=0, seed=1, suppress_tokens=[6], num_return_sequences=20)
    for seq, score in zip(res.sequences, res.scores):
        assert score == pytest.approx(np.log(PROBS[seq[1]] / 0.6), abs=1e-6)


# -- batches of prompts -------------------------------------------------------------------------------------------
class CountingFn:
    """FN, counting model calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, prefixes):
        self.calls.append(len(prefixes))
        return FN(prefixes)


@pytest.mark.parametrize("decode,kwargs", [
    (beam_search, dict(num_beams=3, eos_token_id=[7, 8], num_return_sequences=2)),
    (beam_search, dict(num_beams=4, no_repeat_ngram_size=2, repetition_penalty=1.4, min_new_tokens=3,
                       eos_token_id=7)),
    (greedy, dict(eos_token_id=7, repetition_penalty=1.3)),
    (sample, dict(seed=5, num_return_sequences=3, top_k=10, eos_token_id=7)),
])
def test_a_batch_equals_each_prompt_alone_with_one_model_call_per_step(decode, kwargs):
    prompts = [[1, 2], [3], [4, 5, 6, 9], [3]]
    fn = CountingFn()
    batch = decode(fn, prompts, max_new_tokens=9, **kwargs)
    alone = [decode(FN, p, max_new_tokens=9, **kwargs) for p in prompts]
    assert [r.sequences for r in batch] == [r.sequences for r in alone]
    assert [r.scores for r in batch] == [r.scores for r in alone]
    longest = max(len(s) - len(p) for r, p in zip(batch, prompts) for s in r.sequences)
    assert len(fn.calls) <= longest and fn.calls[0] == len(prompts)    # one call per step for the whole batch


# -- generate: the mode as transformers picks it --------------------------------------------------------------------
def test_generate_picks_the_mode_and_says_why():
    g = beamstream.generate(FN, [1, 2], max_new_tokens=5)
    assert g.sequences == greedy(FN, [1, 2], max_new_tokens=5).sequences and g.extra["mode"] == "greedy"
    b = beamstream.generate(FN, [1, 2], max_new_tokens=5, num_beams=3, length_penalty=0.5)
    assert b.sequences == beam_search(FN, [1, 2], max_new_tokens=5, num_beams=3, length_penalty=0.5).sequences
    assert b.extra["mode"] == "beam_search" and "num_beams=3 (argument)" in b.extra["mode_reason"]
    s = beamstream.generate(FN, [1, 2], max_new_tokens=5, do_sample=True, seed=3, top_k=5)
    assert s.sequences == sample(FN, [1, 2], max_new_tokens=5, seed=3, top_k=5).sequences
    assert s.extra["mode"] == "sample" and "do_sample=True (argument)" in s.extra["mode_reason"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(top_k=5), "top_k"),
    (dict(num_beams=2, temperature=0.5), "temperature"),
    (dict(do_sample=True, length_penalty=2.0), "length_penalty"),
    (dict(do_sample=True, num_beams=2), "beam sampling"),
    (dict(num_return_sequences=2), "num_return_sequences"),
    (dict(num_beams=0), "num_beams"),
    (dict(typo=1), "unknown"),
])
def test_generate_refuses_arguments_of_another_mode(kwargs, match):
    with pytest.raises(ValueError, match=match):
        beamstream.generate(FN, [1, 2], max_new_tokens=5, **kwargs)
