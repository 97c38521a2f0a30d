"""Beam search with the semantics of transformers 5.x `generate(num_beams=n, do_sample=False)`.

This follows `GenerationMixin._beam_search` and its helpers step by step, per prompt (a batch of prompts runs
through one model session, one backend step per prompt and token: see run_batch):

- Each step asks the backend for K = max(2, 1 + n_eos) * n candidates over the flattened [beams, V] scores
  (beam score + log_softmax, with the logits processors applied to the log_softmax: rerank.py), best first.
- A candidate "hits" when a stopping criterion says so (stopping.py): an EOS id, max_length, a stop string, or
  max_time (then every candidate hits). The next running beams are the n best candidates after adding -1e9 to
  the hits (stable order).
- Among the first n candidates only, hits become finished hypotheses with score / generated_len ** length_penalty,
  unless early_stopping is True and all n slots are finished, or the early-stop heuristic already said no
  improvement is possible (each adds -1e9, as transformers does). The n finished slots start at -1e9 and keep
  the n best of (old slots, new candidates).
- The heuristic: best running score / L ** length_penalty must beat the worst finished score (-1e9 for a slot
  still empty), with L = max_length - prompt_len when early_stopping == "never" and length_penalty > 0, else the
  current generated length; once false it stays false.
- The search stops when that heuristic is false, or early_stopping is True and every slot is finished, or every
  candidate hit.
- transformers starts with n copies of the prompt, beam 0 at score 0 and the others at -1e9. Here the first step
  passes only the one live beam (B = 1) to the backend; that gives the same top K whenever the K-th score is above
  -1e9 (always, unless fewer than K tokens are usable: a tiny vocabulary, or processors that ban many), else the
  step is redone with the padded beams.
- num_beams = 1 is greedy search, as `generate` does; its score is the sum of log-probabilities divided by
  generated_len ** length_penalty.
Differences that remain: exact float ties (transformers' torch.topk order is unspecified; here the smaller index
wins) and float32 vs float64 rounding of scores (< 1e-5), so near-ties closer than that may order differently.
"""
from __future__ import annotations

import numpy as np

from .common import (DecodeResult, backend_name, check_float, check_int, eos_ids_of, from_config,
                     run_batch, setup)
from .processors import Processors
from .rerank import EditedSteps
from .stopping import Stopping

_NEG = -1.0e9   # transformers' "very large negative" for masked beams and empty slots


def beam_search(model, input_ids, *, num_beams, max_new_tokens, length_penalty=None, early_stopping=None,
                eos_token_id=None, num_return_sequences=1, backend="numpy", repetition_penalty=None,
                no_repeat_ngram_size=None, bad_words_ids=None, min_length=None, min_new_tokens=None,
                suppress_tokens=None, stop_strings=None, tokenizer=None, max_time=None):
    """Beam-search decode `input_ids` with `model`; Hugging Face `generate(num_beams=...)` semantics.

    model: `fn(prefixes) -> logits[len(prefixes), V]`, a Hugging Face causal LM, or an adapter (beamstream.models).
    input_ids: one prompt (list of ints, 1-D array/tensor) -> DecodeResult; a batch (2-D / list of lists) -> a list
        of DecodeResult, one per prompt, each equal to decoding that prompt alone (one model call per step).
    Arguments left None take the model's generation_config (HF models), else transformers' defaults:
    length_penalty 1.0, early_stopping False, no processors. eos_token_id: int, list of ints, or None.
    Processors (transformers' names and semantics): repetition_penalty, no_repeat_ngram_size, bad_words_ids,
    min_length, min_new_tokens, suppress_tokens. Stopping: stop_strings (needs tokenizer), max_time (seconds).
    backend: a backend name ("numpy", "hwmodel", "sim", "pynq", "auto") or an instance with .step().
    """
    num_beams = check_int("num_beams", num_beams, 1)
    num_return_sequences = check_int("num_return_sequences", num_return_sequences, 1)
    if num_return_sequences > num_beams:
        raise ValueError(f"num_return_sequences ({num_return_sequences}) must be <= num_beams ({num_beams})")
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, 1)
    adapter, prompts, batch, be = setup(model, input_ids, backend)
    length_penalty = check_float("length_penalty", from_config(adapter, "length_penalty", length_penalty, 1.0))
    early_stopping = from_config(adapter, "early_stopping", early_stopping, False)
    if isinstance(early_stopping, np.bool_):
        early_stopping = bool(early_stopping)
    if not (early_stopping is True or early_stopping is False or early_stopping == "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    eos = eos_ids_of(eos_token_id, adapter)
    procs = processors_of(adapter, eos, repetition_penalty=repetition_penalty,
                          no_repeat_ngram_size=no_repeat_ngram_size, bad_words_ids=bad_words_ids,
                          min_length=min_length, min_new_tokens=min_new_tokens, suppress_tokens=suppress_tokens)
    stop = Stopping(eos, max_new_tokens, stop_strings=from_config(adapter, "stop_strings", stop_strings),
                    tokenizer=tokenizer, max_time=from_config(adapter, "max_time", max_time))
    k = 1 if num_beams == 1 else max(2, 1 + len(eos)) * num_beams
    max_k = getattr(be, "max_k", None)
    if max_k is not None and k > max_k:
        raise ValueError(f"backend {backend_name(be)!r} takes at most k={max_k} per step, but num_beams={num_beams}"
                         f" with {len(eos)} EOS id(s) needs k={k} (max(2, 1 + n_eos) * num_beams)")

    if num_beams == 1:
        results = greedy_batch(adapter, prompts, EditedSteps(be, procs), stop, length_penalty)
        return results if batch else results[0]

    steps = EditedSteps(be, procs)

    def make_state(prompt, vocab):
        procs.check_vocab(vocab)
        if vocab < k // num_beams:
            raise ValueError(f"the model's vocabulary ({vocab}) is too small for beam search with {len(eos)} EOS"
                             f" id(s): it needs at least {k // num_beams} tokens")
        return _Beams(prompt, num_beams, length_penalty, early_stopping, stop, num_return_sequences, k, steps)

    results = counted(run_batch(adapter, prompts, make_state), steps)
    return results if batch else results[0]


def greedy_batch(adapter, prompts, steps: EditedSteps, stop: Stopping, length_penalty):
    """Greedy decoding of every prompt; one `steps.rows_step` call per token serves all of them."""
    def make_state(prompt, vocab):
        steps.processors.check_vocab(vocab)
        return Greedy(prompt, stop, length_penalty, steps)

    return counted(run_batch(adapter, prompts, make_state, lambda x, edits: steps.rows_step(x, 1, edits)), steps)


def processors_of(adapter, eos, **args):
    """The processors of a call: explicit arguments, else the model's generation_config."""
    return Processors.build(eos=eos, **{name: from_config(adapter, name, value) for name, value in args.items()})


def _result(sequences, scores, steps: EditedSteps, prompt_len):
    return DecodeResult(sequences, scores, backend_name(steps.backend), prompt_len)


def counted(results, steps: EditedSteps):
    """Every result of one decode call carries the call's backend counts: a batch's prompts share its calls."""
    for result in results:
        result.steps = steps.steps
        result.extra.update(steps.stats())
    return results


class Greedy:
    """generate(num_beams=1, do_sample=False) for one prompt: the argmax token each step (processors on the raw
    logits), until a stopping criterion hits. Score: the summed log-probabilities of the processed distribution,
    divided by generated_len ** length_penalty (0 for `greedy`)."""

    def __init__(self, prompt, stop: Stopping, length_penalty, steps: EditedSteps):
        self.prompt, self.stop, self.lp, self.steps = prompt, stop, length_penalty, steps
        self.generated: list[int] = []
        self.total = 0.0

    def requests(self):
        return [(0, self.steps.processors.edits(self.prompt + self.generated, len(self.prompt)))]

    def advance(self, answers):
        """answers: [(log-probabilities, tokens, values)] of the k = 1 best of the one row `requests` asked for."""
        seq = self.prompt + self.generated
        logp, tokens, _ = answers[0]
        tok = int(tokens[0])
        self.total += float(logp[0])
        self.generated.append(tok)
        if self.stop.hit(tok, len(self.generated), lambda: seq + [tok]) or self.stop.timed_out():
            return None
        return [0], [tok]

    def result(self):
        score = self.total / (len(self.generated) ** self.lp)
        return _result([self.prompt + self.generated], [score], self.steps, len(self.prompt))


class _Beams:
    """The beam search of one prompt, one backend step per `advance`."""

    def __init__(self, prompt, nb, lp, early_stopping, stop: Stopping, nrs, k, steps: EditedSteps):
        self.prompt, self.nb, self.lp, self.early_stopping = prompt, nb, lp, early_stopping
        self.stop, self.nrs, self.k, self.steps = stop, nrs, k, steps
        self.prompt_len = len(prompt)
        self.max_len = self.prompt_len + stop.max_new
        self.running = [[]]                     # generated tokens of each of this prompt's session rows
        self.fin_scores = [_NEG] * nb           # finished slots, best first
        self.fin_seqs: list[list[int] | None] = [None] * nb
        self.fin_done = [False] * nb
        self.improvable = True                  # transformers' is_early_stop_heuristic_unsatisfied
        self.cur_len = self.prompt_len
        self.beam_scores = None                 # None before the first step

    def _edits(self, rows):
        procs = self.steps.processors
        return [procs.edits(self.prompt + self.running[r], self.prompt_len) for r in rows]

    def advance(self, logits):
        nb, k, steps = self.nb, self.k, self.steps
        if self.beam_scores is None:
            # first step: only the live beam, unless the padded beams of transformers could reach the top K
            res = steps.beam_step(logits, np.zeros(1), k, self._edits([0])) if k <= logits.shape[1] else None
            if res is None or not res.scores[k - 1] > _NEG:
                padded = np.broadcast_to(logits, (nb, logits.shape[1]))
                init = np.full(nb, _NEG)
                init[0] = 0.0
                res = steps.beam_step(padded, init, k, self._edits([0] * nb))
                row_of_beam = [0] * nb          # every padded beam is the prompt, i.e. row 0
            else:
                row_of_beam = [0]
        else:
            res = steps.beam_step(logits, self.beam_scores, k, self._edits(range(nb)))
            row_of_beam = list(range(nb))

        scores = res.scores.tolist()
        beams = res.beams.tolist()
        tokens = res.tokens.tolist()
        running, prompt, stop = self.running, self.prompt, self.stop
        new_len = self.cur_len + 1 - self.prompt_len
        if stop.timed_out():
            hits = [True] * k
        else:
            hits = [stop.hit(t, new_len, lambda b=b, t=t: prompt + running[row_of_beam[b]] + [t])
                    for b, t in zip(beams, tokens)]

        # e. the running beams of the next step: the best nb after pushing hits down by 1e9
        masked = [s + _NEG if h else s for s, h in zip(scores, hits)]
        order = sorted(range(k), key=masked.__getitem__, reverse=True)[:nb]   # stable: smaller index first

        # f. finished hypotheses: hits among the first nb candidates, length-penalised
        lp = self.lp
        denom = new_len ** lp
        stop_when_full = self.early_stopping is True
        offset = (_NEG if stop_when_full and all(self.fin_done) else 0.0) + (0.0 if self.improvable else _NEG)
        cand = [s / denom + offset + (0.0 if h and i < nb else _NEG) for i, (s, h) in enumerate(zip(scores, hits))]
        merged = self.fin_scores + cand
        top = sorted(range(nb + k), key=merged.__getitem__, reverse=True)[:nb]
        new_scores, new_seqs, new_done = [], [], []
        for j in top:
            new_scores.append(merged[j])
            if j < nb:
                new_seqs.append(self.fin_seqs[j])
                new_done.append(self.fin_done[j])
            else:
                i = j - nb
                new_seqs.append(running[row_of_beam[beams[i]]] + [tokens[i]])
                new_done.append(hits[i] and i < nb)
        self.fin_scores, self.fin_seqs, self.fin_done = new_scores, new_seqs, new_done

        # g. stopping
        self.cur_len += 1
        best_len = (self.max_len if self.early_stopping == "never" and lp > 0.0 else self.cur_len) - self.prompt_len
        best_running = masked[order[0]] / (best_len ** lp)
        worst = min(self.fin_scores)
        self.improvable = self.improvable and any(best_running > (worst if d else _NEG) for d in self.fin_done)
        if not self.improvable or (stop_when_full and all(self.fin_done)) or all(hits):
            return None

        parents = [row_of_beam[beams[i]] for i in order]
        next_tokens = [tokens[i] for i in order]
        self.running = [running[p] + [t] for p, t in zip(parents, next_tokens)]
        self.beam_scores = np.array([masked[i] for i in order])
        return parents, next_tokens

    def result(self):
        sequences = [self.prompt + (seq or []) for seq in self.fin_seqs[:self.nrs]]
        return _result(sequences, [float(s) for s in self.fin_scores[:self.nrs]], self.steps, self.prompt_len)
