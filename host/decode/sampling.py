"""Greedy search and top-k / top-p / temperature sampling, each step through `backend.step` only.

greedy: B = 1, k = 1 each step (the argmax, smaller token id on ties, as torch.argmax), stopping at EOS: the same
tokens as transformers `generate(do_sample=False, num_beams=1)`.

sample: per sequence and step, the backend returns the top_k tokens of the temperature-scaled logits with their
log-probabilities (normalised over the whole vocabulary); the host renormalises them, applies top_p as
transformers' TopPLogitsWarper does (drop the least likely tokens whose cumulative probability is <= 1 - top_p,
always keeping the most likely) and draws with numpy's PCG64 seeded by `seed`. Same seed, same backend, same
model -> same tokens. The draws are not torch's, so the samples differ from transformers' for the same seed.
"""
from __future__ import annotations

import numpy as np

from .beam import _greedy_one
from .common import (DecodeResult, backend_name, check_eos_range, check_float, check_int, check_logits,
                     eos_ids_of, setup)


def greedy(model, input_ids, *, max_new_tokens, eos_token_id=None, backend="numpy"):
    """Greedy decoding (transformers' do_sample=False, num_beams=1). `.scores` is the summed log-probability."""
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, 1)
    adapter, prompts, batch, be = setup(model, input_ids, backend)
    eos = eos_ids_of(eos_token_id, adapter)
    if getattr(be, "max_k", None) is not None and be.max_k < 1:
        raise ValueError(f"backend {backend_name(be)!r} takes no candidates (max_k={be.max_k})")
    results = [_greedy_one(adapter.session(), p, max_new_tokens, eos, 0.0, be) for p in prompts]
    return results if batch else results[0]


def sample(model, input_ids, *, max_new_tokens, top_k=50, top_p=1.0, temperature=1.0, seed=None,
           eos_token_id=None, num_return_sequences=1, backend="numpy"):
    """Sample `num_return_sequences` continuations (transformers' defaults: top_k=50, top_p=1.0, temperature=1.0).

    top_k=0 or None keeps the whole vocabulary (k = V per step: a hardware backend with a smaller max_k refuses).
    seed: int for reproducible draws (None: fresh entropy). Sequences come in draw order, not sorted.
    """
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, 1)
    top_k = 0 if top_k is None else check_int("top_k", top_k, 0)
    top_p = check_float("top_p", top_p)
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    temperature = check_float("temperature", temperature, positive=True)
    num_return_sequences = check_int("num_return_sequences", num_return_sequences, 1)
    if seed is not None:
        seed = check_int("seed", seed, 0)
    adapter, prompts, batch, be = setup(model, input_ids, backend)
    eos = eos_ids_of(eos_token_id, adapter)
    max_k = getattr(be, "max_k", None)
    if max_k is not None and top_k > max_k:
        raise ValueError(f"top_k={top_k} exceeds backend {backend_name(be)!r}'s largest k ({max_k})")
    rng = np.random.default_rng(seed)
    results = [_sample_one(adapter.session(), p, max_new_tokens, top_k, top_p, temperature, eos,
                           num_return_sequences, rng, be) for p in prompts]
    return results if batch else results[0]


def _sample_one(session, prompt, max_new_tokens, top_k, top_p, temperature, eos, n, rng, be):
    eos_set = set(eos)
    logits = check_logits(session.start(prompt), 1, None)
    vocab = logits.shape[1]
    check_eos_range(eos, vocab)
    k = vocab if top_k == 0 else min(top_k, vocab)
    max_k = getattr(be, "max_k", None)
    if max_k is not None and k > max_k:
        raise ValueError(f"sampling needs k={k} per step (top_k={top_k or 'all'}), but backend "
                         f"{backend_name(be)!r} takes at most {max_k}: pass a smaller top_k")
    zero = np.zeros(1)
    rows = [0] * n                      # session row of each live sequence (all start from the prompt)
    generated = [[] for _ in range(n)]
    totals = [0.0] * n
    live = list(range(n))
    steps = 0
    while live:
        scaled = logits if temperature == 1.0 else np.asarray(logits, np.float32) / np.float32(temperature)
        tokens = []
        for seq in live:
            res = be.step(scaled[rows[seq]:rows[seq] + 1], zero, k)
            steps += 1
            j = _draw(res.scores, top_p, rng)
            tok = int(res.tokens[j])
            totals[seq] += float(res.scores[j])
            generated[seq].append(tok)
            tokens.append(tok)
        still, parents, next_tokens = [], [], []
        for seq, tok in zip(live, tokens):
            if tok not in eos_set and len(generated[seq]) < max_new_tokens:
                still.append(seq)
                parents.append(rows[seq])
                next_tokens.append(tok)
        live = still
        if not live:
            break
        logits = check_logits(session.advance(parents, next_tokens), len(live), vocab)
        for r, seq in enumerate(live):
            rows[seq] = r
    return DecodeResult([prompt + g for g in generated], totals, backend_name(be), len(prompt), steps)


def _draw(logp, top_p, rng) -> int:
    """Index into the backend's candidates (best first) drawn after renormalising and top-p filtering."""
    logp = np.asarray(logp, np.float64)
    if not np.isfinite(logp[0]):          # no finite candidate at all: take the first (tie rule order)
        return 0
    p = np.exp(logp - logp[0])
    p /= p.sum()
    if top_p < 1.0:
        # transformers sorts ascending and drops tokens whose cumulative probability <= 1 - top_p; in our
        # descending order that cumulative sum is the tail sum from each position.
        tail = np.cumsum(p[::-1])[::-1]
        keep = tail > 1.0 - top_p
        keep[0] = True
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    u = rng.random()
    return min(int(np.searchsorted(np.cumsum(p), u, side="right")), int(np.count_nonzero(p)) - 1)
