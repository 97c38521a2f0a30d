"""Greedy search and sampling (temperature, top_k, top_p, min_p): each token of every sequence of a batch from one
per-row step of a backend that has the mode (`step_rows`), else one `backend.step` per row (rerank.rows_step).

greedy: one row per prompt, k = 1 each step (the argmax of the processed logits, smaller token id on ties, as
torch.argmax), until a stopping criterion hits: the same tokens as transformers `generate(do_sample=False,
num_beams=1)`.

sample: transformers' order on the raw logits: the processors (processors.py), then the warpers temperature ->
top_k -> top_p -> min_p. Per sequence and step the backend returns the top_k tokens of the temperature-scaled
logits (the processors commute with the scaling: they multiply by a positive factor or set -inf) with their
log-probabilities over the whole processed vocabulary; the host renormalises them, applies top_p as transformers'
TopPLogitsWarper (drop the least likely tokens whose cumulative probability is <= 1 - top_p, keep at least one),
then min_p (drop tokens less likely than min_p times the likeliest), and draws with numpy's PCG64 seeded by `seed`.
Same seed, same backend, same model -> same tokens. The draws are not torch's, so the samples differ from
transformers' for the same seed.
"""
from __future__ import annotations

import math

import numpy as np

from .beam import _result, counted, greedy_batch, processors_of
from .common import backend_name, check_float, check_int, eos_ids_of, from_config, run_batch, setup
from .rerank import EditedSteps
from .stopping import Stopping

_STOP_ARGS = ("stop_strings", "tokenizer", "max_time")


def greedy(model, input_ids, *, max_new_tokens, eos_token_id=None, backend="numpy", repetition_penalty=None,
           no_repeat_ngram_size=None, bad_words_ids=None, min_length=None, min_new_tokens=None, suppress_tokens=None,
           stop_strings=None, tokenizer=None, max_time=None):
    """Greedy decoding (transformers' do_sample=False, num_beams=1). `.scores` is the summed log-probability of the
    processed distribution. A batch of prompts returns a list of results (one model call per step for all)."""
    adapter, prompts, batch, be = setup(model, input_ids, backend)
    eos = eos_ids_of(eos_token_id, adapter)
    procs = processors_of(adapter, eos, repetition_penalty=repetition_penalty,
                          no_repeat_ngram_size=no_repeat_ngram_size, bad_words_ids=bad_words_ids,
                          min_length=min_length, min_new_tokens=min_new_tokens, suppress_tokens=suppress_tokens)
    stop = Stopping(eos, max_new_tokens, stop_strings=from_config(adapter, "stop_strings", stop_strings),
                    tokenizer=tokenizer, max_time=from_config(adapter, "max_time", max_time))
    if getattr(be, "max_k", None) is not None and be.max_k < 1:
        raise ValueError(f"backend {backend_name(be)!r} takes no candidates (max_k={be.max_k})")

    results = greedy_batch(adapter, prompts, EditedSteps(be, procs), stop, 0.0)
    return results if batch else results[0]


def sample(model, input_ids, *, max_new_tokens, top_k=None, top_p=None, temperature=None, min_p=None, seed=None,
           eos_token_id=None, num_return_sequences=1, backend="numpy", repetition_penalty=None,
           no_repeat_ngram_size=None, bad_words_ids=None, min_length=None, min_new_tokens=None, suppress_tokens=None,
           stop_strings=None, tokenizer=None, max_time=None):
    """Sample `num_return_sequences` continuations per prompt.

    Arguments left None take the model's generation_config (HF models), else transformers' defaults: top_k=50,
    top_p=1.0, temperature=1.0, no min_p. top_k=0 keeps the whole vocabulary (k = V per step: a hardware backend
    with a smaller max_k refuses). seed: int for reproducible draws (None: fresh entropy). Sequences come in draw
    order, not sorted. In a batch every prompt draws from its own generator seeded with `seed`, so each result
    equals sampling that prompt alone.
    """
    adapter, prompts, batch, be = setup(model, input_ids, backend)
    top_k = check_int("top_k", from_config(adapter, "top_k", top_k, 50), 0)
    top_p = check_float("top_p", from_config(adapter, "top_p", top_p, 1.0))
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    temperature = check_float("temperature", from_config(adapter, "temperature", temperature, 1.0), positive=True)
    min_p = from_config(adapter, "min_p", min_p)
    if min_p is not None:
        min_p = check_float("min_p", min_p)
        if not 0.0 <= min_p <= 1.0:
            raise ValueError(f"min_p must be in [0, 1], got {min_p}")
    num_return_sequences = check_int("num_return_sequences", num_return_sequences, 1)
    if seed is not None:
        seed = check_int("seed", seed, 0)
    eos = eos_ids_of(eos_token_id, adapter)
    procs = processors_of(adapter, eos, repetition_penalty=repetition_penalty,
                          no_repeat_ngram_size=no_repeat_ngram_size, bad_words_ids=bad_words_ids,
                          min_length=min_length, min_new_tokens=min_new_tokens, suppress_tokens=suppress_tokens)
    stop = Stopping(eos, max_new_tokens, stop_strings=from_config(adapter, "stop_strings", stop_strings),
                    tokenizer=tokenizer, max_time=from_config(adapter, "max_time", max_time))
    max_k = getattr(be, "max_k", None)
    if max_k is not None and top_k > max_k:
        raise ValueError(f"top_k={top_k} exceeds backend {backend_name(be)!r}'s largest k ({max_k})")
    warp = _Warp(temperature, top_p, min_p)
    steps = EditedSteps(be, procs)

    def make_state(prompt, vocab):
        procs.check_vocab(vocab)
        k = vocab if top_k == 0 else min(top_k, vocab)
        if max_k is not None and k > max_k:
            raise ValueError(f"sampling needs k={k} per step (top_k={top_k or 'all'}), but backend "
                             f"{backend_name(be)!r} takes at most {max_k}: pass a smaller top_k")
        # each prompt draws from its own generator seeded with `seed`: the same draws as decoding it alone
        return _Sampler(prompt, num_return_sequences, warp, stop, np.random.default_rng(seed), steps)

    def row_step(x, edits):
        vocab = x.shape[1]
        return steps.rows_step(warp.scale(x), vocab if top_k == 0 else min(top_k, vocab), edits)

    results = counted(run_batch(adapter, prompts, make_state, row_step), steps)
    return results if batch else results[0]


class _Warp:
    """temperature -> (top_k: the backend's k) -> top_p -> min_p, and the draw."""

    def __init__(self, temperature, top_p, min_p):
        self.temperature, self.top_p, self.min_p = temperature, top_p, min_p

    def scale(self, logits):
        if self.temperature == 1.0:
            return logits
        return np.asarray(logits, np.float32) / np.float32(self.temperature)

    def draw(self, logp, rng) -> int:
        """Index into the candidates (best first) drawn after renormalising, top-p and min-p filtering."""
        logp = np.asarray(logp, np.float64)
        if not np.isfinite(logp[0]):          # no finite candidate at all: take the first (tie rule order)
            return 0
        p = np.exp(logp - logp[0])
        p /= p.sum()
        if self.top_p < 1.0:
            # transformers sorts ascending and drops tokens whose cumulative probability <= 1 - top_p; in our
            # descending order that cumulative sum is the tail sum from each position.
            tail = np.cumsum(p[::-1])[::-1]
            keep = tail > 1.0 - self.top_p
            keep[0] = True
            p = np.where(keep, p, 0.0)
            p /= p.sum()
        if self.min_p is not None and self.min_p > 0.0:
            p = np.where(logp - logp[0] >= math.log(self.min_p), p, 0.0)   # p[0] is the likeliest: kept
            p /= p.sum()
        u = rng.random()
        return min(int(np.searchsorted(np.cumsum(p), u, side="right")), int(np.count_nonzero(p)) - 1)


class _Sampler:
    """`n` sampled continuations of one prompt; all start from the prompt's row."""

    def __init__(self, prompt, n, warp: _Warp, stop: Stopping, rng, steps: EditedSteps):
        self.prompt, self.warp, self.stop, self.rng, self.steps = prompt, warp, stop, rng, steps
        self.rows = [0] * n                 # row (within this prompt's block) of each live sequence
        self.generated = [[] for _ in range(n)]
        self.totals = [0.0] * n
        self.live = list(range(n))
        self.asked = []                     # the rows `requests` asked for, in order

    def requests(self):
        """The rows the live sequences continue, once each (all n share the prompt's row at first), with the edits
        of the sequence that ends there."""
        first = {}
        for seq in self.live:
            first.setdefault(self.rows[seq], seq)
        self.asked = list(first)
        procs = self.steps.processors
        return [(r, procs.edits(self.prompt + self.generated[seq], len(self.prompt))) for r, seq in first.items()]

    def advance(self, answers):
        """answers: [(log-probabilities, tokens, values)] of the top_k candidates of each row `requests` asked for."""
        by_row = dict(zip(self.asked, answers))
        tokens = []
        for seq in self.live:
            logp, toks, _ = by_row[self.rows[seq]]
            j = self.warp.draw(logp, self.rng)
            tok = int(toks[j])
            self.totals[seq] += float(logp[j])
            self.generated[seq].append(tok)
            tokens.append(tok)
        timed_out = self.stop.timed_out()
        still, parents, next_tokens = [], [], []
        for seq, tok in zip(self.live, tokens):
            gen = self.generated[seq]
            if not timed_out and not self.stop.hit(tok, len(gen), lambda: self.prompt + gen):
                still.append(seq)
                parents.append(self.rows[seq])
                next_tokens.append(tok)
        self.live = still
        for r, seq in enumerate(still):
            self.rows[seq] = r
        return (parents, next_tokens) if still else None

    def result(self):
        return _result([self.prompt + g for g in self.generated], self.totals, self.steps, len(self.prompt))
