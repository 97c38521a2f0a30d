"""Greedy and sampling on a backend with a per-row mode (`step_rows`): one backend call per token for every
sequence of every prompt, up to the build's beams_max rows, and the same tokens and scores as one step per row.

The reference is the same backend with its per-row mode hidden, which the decoders then drive one `step` per row
(the path tests/test_decode.py checks against plain-Python argmax chains and distributions)."""
import numpy as np
import pytest

from beamstream import beam_search, generate, greedy, sample
from beamstream.backends.hwmodel_backend import HwModelBackend
from beamstream.hw.interface import CoreConfig
from beamstream.models.toy import make_table, toy_fn

FN = toy_fn(make_table(50, rows=16, seed=3))
PROMPTS = [[1, 2], [3], [4, 5, 6, 9]]


class Calls:
    """A hardware-model backend recording each call's kind and rows; `rows=False` hides its per-row mode."""

    def __init__(self, cfg: CoreConfig, rows: bool = True):
        self.inner = HwModelBackend(cfg)
        self.name, self.max_k, self.formats, self.config = "hwmodel", cfg.k_max, (cfg.fmt,), cfg
        self.calls = []
        if rows:
            self.step_rows = self._step_rows

    def step(self, logits, beam_scores, k):
        self.calls.append(("step", len(logits), k))
        return self.inner.step(logits, beam_scores, k)

    def _step_rows(self, logits, beam_scores, k):
        self.calls.append(("rows", len(logits), k))
        return self.inner.step_rows(logits, beam_scores, k)


def decoded(results):
    return [(r.sequences, r.scores) for r in results]


def generated_positions(results, prompts):
    return max(len(s) - len(p) for r, p in zip(results, prompts) for s in r.sequences)


CASES = [
    (sample, dict(seed=5, num_return_sequences=2, top_k=6, temperature=0.8, eos_token_id=7)),
    (sample, dict(seed=2, num_return_sequences=2, top_k=4, top_p=0.9, repetition_penalty=1.3,
                  no_repeat_ngram_size=2, bad_words_ids=[[11], [12, 13]])),
    (sample, dict(seed=9, num_return_sequences=1, top_k=3, repetition_penalty=0.7, min_new_tokens=4,
                  eos_token_id=7)),
    (greedy, dict(eos_token_id=7)),
    (greedy, dict(repetition_penalty=1.4, suppress_tokens=[0, 5])),
]


@pytest.mark.parametrize("decode,kwargs", CASES)
def test_one_call_per_token_and_the_same_decode_as_a_step_per_row(decode, kwargs):
    cfg = CoreConfig(lanes=2, k_max=16, beams_max=8, vocab_max=64)
    rows, per_step = Calls(cfg), Calls(cfg, rows=False)
    got = decode(FN, PROMPTS, max_new_tokens=9, backend=rows, **kwargs)
    assert decoded(got) == decoded(decode(FN, PROMPTS, max_new_tokens=9, backend=per_step, **kwargs))
    assert {kind for kind, _, _ in rows.calls} == {"rows"}
    assert len(rows.calls) == generated_positions(got, PROMPTS)     # one call per token for the whole batch
    assert rows.calls[0][1] == len(PROMPTS)                          # the n sequences of a prompt share its row
    assert all(r.steps == len(rows.calls) for r in got)
    assert len(per_step.calls) > len(rows.calls) and {kind for kind, b, _ in per_step.calls} == {"step"}


def test_rows_beyond_beams_max_take_several_calls_each_within_it():
    cfg = CoreConfig(lanes=2, k_max=8, beams_max=2, vocab_max=64)
    rows, per_step = Calls(cfg), Calls(cfg, rows=False)
    kwargs = dict(max_new_tokens=6, seed=4, num_return_sequences=3, top_k=5)
    got = sample(FN, PROMPTS[:2], backend=rows, **kwargs)
    assert decoded(got) == decoded(sample(FN, PROMPTS[:2], backend=per_step, **kwargs))
    assert [b for _, b, _ in rows.calls[:1]] == [2]                   # first token: one row per prompt
    assert all(b <= 2 for _, b, _ in rows.calls)
    assert len(rows.calls) == 1 + 3 * (generated_positions(got, PROMPTS[:2]) - 1)   # then 6 rows: 3 calls each


def test_the_call_asks_for_the_widest_row_and_each_row_reads_its_own_first_candidates():
    # repetition_penalty edits each sequence's own tokens: a row asks for K' = top_k + its edits; the call takes
    # the largest K' and a row with fewer edits reads only its first K' (the same K' best as a step of its own).
    cfg = CoreConfig(lanes=2, k_max=16, beams_max=8, vocab_max=64)
    rows, per_step = Calls(cfg), Calls(cfg, rows=False)
    prompts = [[1, 2, 3, 4, 5, 6, 7], [9]]
    kwargs = dict(max_new_tokens=3, seed=1, top_k=4, repetition_penalty=1.5)
    got = sample(FN, prompts, backend=rows, **kwargs)
    assert decoded(got) == decoded(sample(FN, prompts, backend=per_step, **kwargs))
    assert rows.calls[0] == ("rows", 2, 4 + 7)
    assert [k for _, _, k in per_step.calls[:2]] == [4 + 7, 4 + 1]
    assert got[0].extra["edited_steps"] == 2 * 3


def test_generate_sampling_on_the_hwmodel_uses_the_per_row_mode():
    rows = Calls(CoreConfig(lanes=2, k_max=16, beams_max=8, vocab_max=64))
    res = generate(FN, PROMPTS, do_sample=True, top_k=5, num_return_sequences=2, max_new_tokens=5, seed=0,
                   backend=rows)
    assert len(res) == len(PROMPTS) and {kind for kind, _, _ in rows.calls} == {"rows"}
    assert len(rows.calls) == 5


@pytest.mark.parametrize("decode,kwargs", [(beam_search, dict(num_beams=2)), (greedy, {}),
                                           (sample, dict(seed=1, num_return_sequences=2, top_k=4))])
def test_every_result_of_a_batch_carries_the_whole_batchs_counts(decode, kwargs):
    calls = Calls(CoreConfig(lanes=2, k_max=16, beams_max=8, vocab_max=64))
    results = decode(FN, PROMPTS, max_new_tokens=4, backend=calls, repetition_penalty=1.2, **kwargs)
    assert [r.steps for r in results] == [len(calls.calls)] * len(PROMPTS)
    assert len({tuple(sorted(r.extra.items())) for r in results}) == 1
