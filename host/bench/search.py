"""A whole beam search on a toy model whose logits cost nothing: beamstream (numpy backend) against transformers'
own `generate(num_beams=...)`, same model, same prompt, same settings, side by side in one run.

The toy model (beamstream.models.toy) reads each prefix's logits from a fixed random table, as a plain callable
for beamstream and as a transformers PreTrainedModel for `generate` (use_cache=False: it has no KV cache, and
reads only the prefix's end), so what is timed is the decoding machinery: log-softmax, top-K, EOS and
length-penalty bookkeeping, beam reordering. Both must return the same best sequence (checked before timing).
transformers runs with torch's default thread count and with one thread; the faster is the reference.
Goal: beamstream >= 3x faster at V = 50257 with 4 and 8 beams, with and without no_repeat_ngram_size=3 (then both
sides apply the processor: transformers over every logit, beamstream to the few candidates it re-ranks).
"""
from __future__ import annotations

import time

import numpy as np

GOAL = 3.0
CASES = [  # (vocab, num_beams, max_new_tokens, processors)
    (1024, 4, 64, {}),
    (50257, 4, 64, {}),
    (50257, 8, 64, {}),
    (50257, 4, 64, {"no_repeat_ngram_size": 3}),
    (50257, 8, 64, {"no_repeat_ngram_size": 3}),
]


def measure(vocab, num_beams, max_new_tokens, processors=None, *, reps=5, seed=0):
    """(beamstream seconds, {threads: transformers seconds}) per search, each the best of `reps` alternations."""
    import torch
    from transformers.utils import logging as hf_logging

    from beamstream import beam_search
    from beamstream.backends.numpy_backend import NumpyBackend
    from beamstream.models.toy import make_table, toy_fn, toy_hf_model

    hf_logging.set_verbosity_error()
    table = make_table(vocab, seed=seed)
    eos = 2
    fn = toy_fn(table)
    model = toy_hf_model(table, eos_token_id=eos)
    prompt = [5, 11, 17]
    prompt_t = torch.tensor([prompt])
    backend = NumpyBackend()
    settings = dict(num_beams=num_beams, max_new_tokens=max_new_tokens, length_penalty=1.0, early_stopping=False,
                    **(processors or {}))

    def ours():
        return beam_search(fn, prompt, eos_token_id=eos, backend=backend, **settings)

    def theirs():
        with torch.no_grad():
            return model.generate(prompt_t, do_sample=False, use_cache=False, eos_token_id=eos, pad_token_id=0,
                                  return_dict_in_generate=True, output_scores=True, **settings)

    a, b = ours(), theirs()
    hf_best = b.sequences[0].tolist()
    if eos in hf_best[len(prompt):]:
        hf_best = hf_best[:hf_best.index(eos, len(prompt)) + 1]
    if a.sequences[0] != hf_best or abs(a.scores[0] - float(b.sequences_scores[0])) > 1e-4:
        raise RuntimeError(f"bench search V={vocab}: beamstream and transformers disagree")

    default = torch.get_num_threads()
    counts = sorted({default, 1}, reverse=True)
    best_ours = float("inf")
    best_theirs = {n: float("inf") for n in counts}
    try:
        for _ in range(reps):
            t0 = time.perf_counter()
            ours()
            best_ours = min(best_ours, time.perf_counter() - t0)
            for n in counts:
                torch.set_num_threads(n)
                t0 = time.perf_counter()
                theirs()
                best_theirs[n] = min(best_theirs[n], time.perf_counter() - t0)
    finally:
        torch.set_num_threads(default)
    return best_ours, best_theirs, a.steps


def run(args):
    import torch
    import transformers

    from .simd import describe, rerun_with_avx2

    quick = getattr(args, "quick", False)
    reps = 3 if quick else 7
    print(f"   {describe()}")
    cases = [(v, nb, 16 if quick else n, procs) for v, nb, n, procs in CASES]
    counts = sorted({torch.get_num_threads(), 1}, reverse=True)
    print(f"   transformers {transformers.__version__} generate (torch on {' and '.join(map(str, counts))} thread(s),"
          f" the faster is the reference) vs beamstream.beam_search on the numpy backend")
    heads = "".join(f"{f'HF {n}t ms':>10}" for n in counts)
    print(f"   {'V':>6} {'beams':>5} {'new':>4} {'steps':>5} {'ours ms':>8}{heads} {'speedup':>8}  goal >= {GOAL:.0f}x")
    rows = []
    for vocab, nb, new, procs in cases:
        t_ours, t_hf, steps = measure(vocab, nb, new, procs, reps=reps)
        ref = min(t_hf.values())
        speedup = ref / t_ours
        rows.append((vocab, nb, new, t_ours, ref, speedup))
        mark = "ok" if speedup >= GOAL else "MISSED"
        cols = "".join(f"{t_hf[n] * 1e3:>10.1f}" for n in counts)
        label = ", ".join(f"{k}={v}" for k, v in procs.items())
        print(f"   {vocab:>6} {nb:>5} {new:>4} {steps:>5} {t_ours * 1e3:>8.1f}{cols} {speedup:>7.1f}x  {mark}"
              f"  {label}".rstrip(), flush=True)
    rerun_with_avx2("search", quick)
    return rows
