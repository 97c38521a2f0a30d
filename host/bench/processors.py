"""Logits processors on the fabric: how often the re-ranked wider top-K cannot prove the answer (a host pass
follows), and the host's time per step against a full host pass over the B*V logits.

The default model (SmolLM2-135M-Instruct, as load_pretrained() runs it) decodes a few prompts with beam search,
no_repeat_ngram_size=3 and repetition_penalty=1.2, on the `hwmodel` backend (the core's bit-exact model, K_MAX = 16)
with 4 beams (K = 8: 8 spare candidates) and 8 beams (K = 16: none spare), and on `numpy` with 4 beams (no K
limit: it is asked for K + the number of edited tokens, at most 4K + 16). Counted per backend step: steps whose candidates were edited, steps that
fell back to a host pass. Timed: the host's re-ranking per edited step (backend steps excluded), against
`_host_beam_step`, the full host pass (log-softmax of all B*V logits, the edits, the exact top K) on the same shape.
"""
from __future__ import annotations

import time

import numpy as np

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,",
           "The three laws of thermodynamics are"]
PROCESSORS = {"no_repeat_ngram_size": 3, "repetition_penalty": 1.2}
RUNS = [("hwmodel", 4), ("numpy", 4), ("hwmodel", 8)]   # 8 beams: K = 16 = K_MAX, no spare candidates


def full_host_pass_seconds(b, v, k, n_penalised, reps=7, seed=0):
    """Median time of the fallback's full host pass on [b, v] logits with `n_penalised` penalised tokens per row."""
    from beamstream.decode.processors import Processors
    from beamstream.decode.rerank import _host_beam_step

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((b, v)) * 3).astype(np.float32)
    s = -rng.exponential(3.0, b)
    penalised = np.sort(np.concatenate([r * v + rng.choice(v, n_penalised, replace=False) for r in range(b)]))
    proc = Processors(repetition_penalty=1.2)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        _host_beam_step(x, s, k, np.zeros(0, np.int64), penalised, proc)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run(args):
    from beamstream import beam_search, get_backend
    from beamstream.models import DEFAULT_NAME, as_model, load_pretrained
    from beamstream.models.blas_threads import set_blas_threads

    from .simd import describe

    quick = getattr(args, "quick", False)
    new = 12 if quick else 32
    set_blas_threads(1)
    model, tokenizer = load_pretrained()
    lm = as_model(model)
    prompts = [tokenizer(p)["input_ids"] for p in PROMPTS]
    label = ", ".join(f"{k}={v}" for k, v in PROCESSORS.items())
    print(f"   {describe()}")
    print(f"   {DEFAULT_NAME}, {len(prompts)} prompts as one batch, max_new_tokens={new}, {label}")
    print(f"   {'backend':>8} {'beams':>5} {'K max':>5} {'steps':>5} {'edited':>6} {'fallback':>8} {'rate':>6}"
          f" {'host ms/step':>12} {'full pass ms':>12} {'ratio':>6}")
    for name, beams in RUNS:
        backend = get_backend(name)
        beam_search(lm, prompts[:1], num_beams=beams, max_new_tokens=2, backend=backend,
                    **PROCESSORS)                                   # warm up (first calls, work arrays)
        results = beam_search(lm, prompts, num_beams=beams, max_new_tokens=new, backend=backend, **PROCESSORS)
        counts = results[0]                   # the batch's counts, on every result
        steps, edited = counts.steps, counts.extra["edited_steps"]
        fallbacks = counts.extra["fallback_steps"]
        per_step = counts.extra["rerank_seconds"] / max(edited, 1)
        seen = max(len(s) for r in results for s in r.sequences)
        full = full_host_pass_seconds(beams, lm.vocab_size, 2 * beams, seen)
        kmax = getattr(backend, "max_k", None) or "-"
        print(f"   {name:>8} {beams:>5} {kmax:>5} {steps:>5} {edited:>6} {fallbacks:>8} {fallbacks / max(edited, 1):>6.1%}"
              f" {per_step * 1e3:>12.3f} {full * 1e3:>12.3f} {per_step / full:>5.2f}x", flush=True)
