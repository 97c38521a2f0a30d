"""One decode step: the `numpy` backend against torch on the CPU doing what transformers does per beam-search step
(log_softmax + beam scores + topk over the flattened [B*V] scores), on the same float32 logits, side by side.

Both are timed in alternation (one batch of calls each, repeated) and the best batch of each is kept, so that
the noise of a shared machine hits both alike. torch runs with its default thread count and with one thread
(on a busy 2-core machine its OpenMP threads can stall each other), and the faster of the two is the reference.
Goal: numpy <= 1.0x torch's time, on AVX-512 and on AVX2 (on an AVX-512 machine the part runs a second time in a
child limited to AVX2, see beamstream.bench.simd), with the answer checked first: the same top-k as torch and
scores within 1e-5 of a float64 log-softmax.
"""
from __future__ import annotations

import time

import numpy as np

SHAPES = [(4, 50257), (8, 151936)]   # GPT-2 and Qwen2-sized vocabularies
GOAL = 1.0


def _best_batch(fns, reps, inner, prepare=None):
    """Alternate the functions `reps` times, `inner` calls per batch; return each one's best seconds per call.

    prepare[i], when given, runs before each batch of fns[i] (untimed), e.g. to set torch's thread count."""
    prepare = prepare or [None] * len(fns)
    best = [float("inf")] * len(fns)
    for fn, prep in zip(fns, prepare):
        if prep:
            prep()
        fn()                                            # warm up (work arrays, caches, thread pools)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            if prepare[i]:
                prepare[i]()
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / inner)
    return best


def torch_thread_counts():
    """torch's default thread count and 1 (both are measured; the faster one is the reference)."""
    import torch

    default = torch.get_num_threads()
    return sorted({default, 1}, reverse=True)


def measure(b, v, *, reps=15, inner=20, seed=0):
    """(numpy seconds, {threads: torch seconds}) per step for B=b, V=v, k = 2*b (transformers' K, one EOS id)."""
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

    # same answer first: torch's top-k, scores within 1e-5 of float64
    got = numpy_step()
    x64 = logits.astype(np.float64)
    lse = x64.max(axis=1) + np.log(np.exp(x64 - x64.max(axis=1)[:, None]).sum(axis=1))
    exact = x64[got.beams, got.tokens] - lse[got.beams] + scores[got.beams]
    if not np.allclose(got.scores, exact, atol=1e-5, rtol=0):
        raise RuntimeError(f"bench step B={b} V={v}: numpy scores differ from float64 by more than 1e-5")
    ref_v, ref_i = torch_step()
    if not np.array_equal(got.beams * v + got.tokens, ref_i.numpy()):
        raise RuntimeError(f"bench step B={b} V={v}: numpy and torch disagree on the top-{k}")
    if not np.allclose(got.scores, ref_v.numpy(), atol=1e-4, rtol=0):
        raise RuntimeError(f"bench step B={b} V={v}: numpy and torch scores differ by more than 1e-4")
    counts = torch_thread_counts()
    default = torch.get_num_threads()
    try:
        times = _best_batch([numpy_step] + [torch_step] * len(counts), reps, inner,
                            [None] + [lambda n=n: torch.set_num_threads(n) for n in counts])
    finally:
        torch.set_num_threads(default)
    return times[0], dict(zip(counts, times[1:]))


def run(args):
    import torch

    from .simd import describe, rerun_with_avx2

    quick = getattr(args, "quick", False)
    reps, inner = (5, 5) if quick else (15, 20)
    counts = torch_thread_counts()
    print(f"   {describe()}")
    print(f"   torch {torch.__version__} on {' and '.join(map(str, counts))} thread(s), the faster is the reference;"
          f" numpy {np.__version__} (one thread)")
    heads = "".join(f"{f'torch {n}t ms':>12}" for n in counts)
    print(f"   {'B':>3} {'V':>7} {'k':>3} {'numpy ms':>9}{heads} {'numpy/torch':>12}  goal <= {GOAL:.1f}x")
    rows = []
    for b, v in SHAPES:
        t_np, t_torch = measure(b, v, reps=reps, inner=inner)
        ref = min(t_torch.values())
        ratio = t_np / ref
        rows.append((b, v, t_np, ref, ratio))
        mark = "ok" if ratio <= GOAL else "MISSED"
        cols = "".join(f"{t_torch[n] * 1e3:>12.3f}" for n in counts)
        print(f"   {b:>3} {v:>7} {2 * b:>3} {t_np * 1e3:>9.3f}{cols} {ratio:>11.2f}x  {mark}", flush=True)
    rerun_with_avx2("step", quick)
    return rows
