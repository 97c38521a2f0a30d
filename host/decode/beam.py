"""Beam search with the semantics of transformers 5.x `generate(num_beams=n, do_sample=False)`.

This follows `GenerationMixin._beam_search` and its helpers step by step (one prompt at a time):

- Each step asks the backend for K = max(2, 1 + n_eos) * n candidates over the flattened [beams, V] scores
  (beam score + log_softmax), best first.
- A candidate "hits" when its token is an EOS id or the sequence reaches max_length. The next running beams are
  the n best candidates after adding -1e9 to the hits (stable order).
- Among the first n candidates only, hits become finished hypotheses with score / generated_len ** length_penalty,
  unless early_stopping is True and all n slots are finished, or the early-stop heuristic already said no
  improvement is possible (each adds -1e9, as transformers does). The n finished slots start at -1e9 and keep
  the n best of (old slots, new candidates).
- The heuristic: best running score / L ** length_penalty must beat the worst finished score (-1e9 for a slot
  still empty), with L = max_length - prompt_len when early_stopping == "never" and length_penalty > 0, else the
  current generated length; once false it stays false.
- The search stops when that heuristic is false, or early_stopping is True and every slot is finished, or every
  candidate hit (max_length).
- transformers starts with n copies of the prompt, beam 0 at score 0 and the others at -1e9. Here the first step
  passes only the one live beam (B = 1) to the backend; that gives the same top K whenever the K-th score is above
  -1e9 (always, unless the vocabulary has fewer than K usable tokens), else the step is redone with the padded beams.
- num_beams = 1 is greedy search, as `generate` does; its score is the sum of log-probabilities divided by
  generated_len ** length_penalty.
Differences that remain: exact float ties (transformers' torch.topk order is unspecified; here the smaller index
wins) and float32 vs float64 rounding of scores (< 1e-5), so near-ties closer than that may order differently.
"""
from __future__ import annotations

import numpy as np

from .common import (DecodeResult, backend_name, check_eos_range, check_float, check_int, check_logits,
                     eos_ids_of, setup)

_NEG = -1.0e9   # transformers' "very large negative" for masked beams and empty slots


def beam_search(model, input_ids, *, num_beams, max_new_tokens, length_penalty=1.0, early_stopping=False,
                eos_token_id=None, num_return_sequences=1, backend="numpy"):
    """Beam-search decode `input_ids` with `model`; Hugging Face `generate(num_beams=...)` semantics.

    model: `fn(prefixes) -> logits[len(prefixes), V]`, a Hugging Face causal LM, or an adapter (beamstream.models).
    input_ids: one prompt (list of ints, 1-D array/tensor) -> DecodeResult; a batch (2-D / list of lists) -> a list
        of DecodeResult, one per prompt (decoded one after another).
    eos_token_id: int, list of ints, or None (the HF model's generation_config EOS; none for a callable).
    backend: a backend name ("numpy", "hwmodel", "sim", "pynq", "auto") or an instance with .step().
    """
    num_beams = check_int("num_beams", num_beams, 1)
    num_return_sequences = check_int("num_return_sequences", num_return_sequences, 1)
    if num_return_sequences > num_beams:
        raise ValueError(f"num_return_sequences ({num_return_sequences}) must be <= num_beams ({num_beams})")
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, 1)
    length_penalty = check_float("length_penalty", length_penalty)
    if isinstance(early_stopping, np.bool_):
        early_stopping = bool(early_stopping)
    if not (early_stopping is True or early_stopping is False or early_stopping == "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    adapter, prompts, batch, be = setup(model, input_ids, backend)
    eos = eos_ids_of(eos_token_id, adapter)
    k = 1 if num_beams == 1 else max(2, 1 + len(eos)) * num_beams
    max_k = getattr(be, "max_k", None)
    if max_k is not None and k > max_k:
        raise ValueError(f"backend {backend_name(be)!r} takes at most k={max_k} per step, but num_beams={num_beams}"
                         f" with {len(eos)} EOS id(s) needs k={k} (max(2, 1 + n_eos) * num_beams)")
    results = []
    for prompt in prompts:
        if num_beams == 1:
            results.append(_greedy_one(adapter.session(), prompt, max_new_tokens, eos, length_penalty, be))
        else:
            results.append(_beam_one(adapter.session(), prompt, num_beams, max_new_tokens, length_penalty,
                                     early_stopping, eos, num_return_sequences, k, be))
    return results if batch else results[0]


def _greedy_one(session, prompt, max_new_tokens, eos, length_penalty, be):
    """generate(num_beams=1, do_sample=False): the argmax token each step, stopping at EOS."""
    eos_set = set(eos)
    logits = check_logits(session.start(prompt), 1, None)
    vocab = logits.shape[1]
    check_eos_range(eos, vocab)
    generated, total, steps = [], 0.0, 0
    zero = np.zeros(1)
    while True:
        res = be.step(logits, zero, 1)
        steps += 1
        tok = int(res.tokens[0])
        total += float(res.scores[0])
        generated.append(tok)
        if tok in eos_set or len(generated) >= max_new_tokens:
            break
        logits = check_logits(session.advance([0], [tok]), 1, vocab)
    score = total / (len(generated) ** length_penalty)
    return DecodeResult([prompt + generated], [score], backend_name(be), len(prompt), steps)


def _beam_one(session, prompt, nb, max_new_tokens, lp, early_stopping, eos, nrs, k, be):
    eos_set = set(eos)
    prompt_len = len(prompt)
    max_len = prompt_len + max_new_tokens
    stop_when_full = early_stopping is True

    logits = check_logits(session.start(prompt), 1, None)
    vocab = logits.shape[1]
    check_eos_range(eos, vocab)
    if vocab < k // nb:
        raise ValueError(f"the model's vocabulary ({vocab}) is too small for beam search with {len(eos)} EOS id(s):"
                         f" it needs at least {k // nb} tokens")

    # first step: only the live beam, unless the padded beams of transformers could reach the top K
    steps = 1
    res = be.step(logits, np.zeros(1), k) if k <= vocab else None
    if res is None or not res.scores[k - 1] > _NEG:
        padded = np.broadcast_to(logits, (nb, vocab))
        init = np.full(nb, _NEG)
        init[0] = 0.0
        res = be.step(padded, init, k)
        row_of_beam = [0] * nb          # every padded beam is the prompt, i.e. session row 0
    else:
        row_of_beam = [0]
    running = [[]]                      # generated tokens of each session row
    fin_scores = [_NEG] * nb            # finished slots, best first
    fin_seqs: list[list[int] | None] = [None] * nb
    fin_done = [False] * nb
    improvable = True                   # transformers' is_early_stop_heuristic_unsatisfied
    cur_len = prompt_len

    while True:
        scores = res.scores.tolist()
        beams = res.beams.tolist()
        tokens = res.tokens.tolist()
        at_max = cur_len + 1 >= max_len
        hits = [at_max or t in eos_set for t in tokens]

        # e. the running beams of the next step: the best nb after pushing hits down by 1e9
        masked = [s + _NEG if h else s for s, h in zip(scores, hits)]
        order = sorted(range(k), key=masked.__getitem__, reverse=True)[:nb]   # stable: smaller index first

        # f. finished hypotheses: hits among the first nb candidates, length-penalised
        denom = (cur_len + 1 - prompt_len) ** lp
        offset = (_NEG if stop_when_full and all(fin_done) else 0.0) + (0.0 if improvable else _NEG)
        cand = [s / denom + offset + (0.0 if h and i < nb else _NEG)
                for i, (s, h) in enumerate(zip(scores, hits))]
        merged = fin_scores + cand
        top = sorted(range(nb + k), key=merged.__getitem__, reverse=True)[:nb]
        new_scores, new_seqs, new_done = [], [], []
        for j in top:
            new_scores.append(merged[j])
            if j < nb:
                new_seqs.append(fin_seqs[j])
                new_done.append(fin_done[j])
            else:
                i = j - nb
                new_seqs.append(running[row_of_beam[beams[i]]] + [tokens[i]])
                new_done.append(hits[i] and i < nb)
        fin_scores, fin_seqs, fin_done = new_scores, new_seqs, new_done

        # g. stopping
        cur_len += 1
        best_len = (max_len if early_stopping == "never" and lp > 0.0 else cur_len) - prompt_len
        best_running = masked[order[0]] / (best_len ** lp)
        worst = min(fin_scores)
        improvable = improvable and any(best_running > (worst if d else _NEG) for d in fin_done)
        if not improvable or (stop_when_full and all(fin_done)) or all(hits):
            break

        parents = [row_of_beam[beams[i]] for i in order]
        next_tokens = [tokens[i] for i in order]
        running = [running[p] + [t] for p, t in zip(parents, next_tokens)]
        logits = check_logits(session.advance(parents, next_tokens), nb, vocab)
        row_of_beam = list(range(nb))
        res = be.step(logits, np.array([masked[i] for i in order]), k)
        steps += 1

    sequences = [prompt + (seq or []) for seq in fin_seqs[:nrs]]
    return DecodeResult(sequences, [float(s) for s in fin_scores[:nrs]], backend_name(be), prompt_len, steps)
