"""One decode step: the `numpy` backend against torch on the CPU doing what transformers does per beam-search step
(log_softmax + beam scores + topk over the flattened [B*V] scores), on the same float32 logits, side by side.

Both are timed in alternation (one batch of calls each, repeated) and the best batch of each is kept, so that
the noise of a shared machine hits both alike. Goal: numpy <= 1.0x torch's time.
"""
from __future__ import annotations

import time

import numpy as np

SHAPES = [(4, 50257), (8, 151936)]   # GPT-2 and Qwen2-sized vocabularies
GOAL = 1.0


def _best_batch(fns, reps, inner):
    """Alternate the functions `reps` times, `inner` calls per batch; return each one's best seconds per call."""
    best = [float("inf")] * len(fns)
    for fn in fns:
        fn()                                            # warm up (work arrays, caches, thread pools)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / inner)
    return best


def measure(b, v, *, reps=15, inner=20, seed=0):
    """(numpy seconds, torch seconds) per step for B=b, V=v, k = 2*b (transformers' K with one EOS id)."""
    import torch

    from beamstream.backends.numpy_backend import NumpyBackend

    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((b, v), dtype=np.float32) * 3).astype(np.float32)
    scores = (rng.standard_normal(b) * 5).astype(np.float32)
    k = 2 * b
    backend = NumpyBackend()
    logits_t = torch.from_numpy(logits)
    scores_t = torch.from_numpy(scores)

    def torch_step():
        with torch.no_grad():
            lp = torch.nn.functional.log_softmax(logits_t, dim=-1) + scores_t[:, None]
            return torch.topk(lp.reshape(-1), k)

    def numpy_step():
        return backend.step(logits, scores, k)

    # same answer first (indices; scores to float32 precision)
    got = numpy_step()
    ref_v, ref_i = torch_step()
    if not np.array_equal(got.beams * v + got.tokens, ref_i.numpy()):
        raise RuntimeError(f"bench step B={b} V={v}: numpy and torch disagree on the top-{k}")
    if not np.allclose(got.scores, ref_v.numpy(), atol=1e-4, rtol=0):
        raise RuntimeError(f"bench step B={b} V={v}: numpy and torch scores differ by more than 1e-4")
    t_np, t_torch = _best_batch([numpy_step, torch_step], reps, inner)
    return t_np, t_torch


def run(args):
    import torch

    quick = getattr(args, "quick", False)
    reps, inner = (5, 5) if quick else (15, 20)
    print(f"   torch {torch.__version__} with {torch.get_num_threads()} threads; numpy {np.__version__} (one thread)")
    print(f"   {'B':>3} {'V':>7} {'k':>3} {'numpy ms':>9} {'torch ms':>9} {'numpy/torch':>12}  goal <= {GOAL:.1f}x")
    rows = []
    for b, v in SHAPES:
        t_np, t_torch = measure(b, v, reps=reps, inner=inner)
        ratio = t_np / t_torch
        rows.append((b, v, t_np, t_torch, ratio))
        mark = "ok" if ratio <= GOAL else "MISSED"
        print(f"   {b:>3} {v:>7} {2 * b:>3} {t_np * 1e3:>9.3f} {t_torch * 1e3:>9.3f} {ratio:>11.2f}x  {mark}", flush=True)
    return rows
