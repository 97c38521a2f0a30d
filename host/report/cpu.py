"""Time one decode step on this machine's CPU: the `numpy` backend and, when installed, torch.

Both see the same float32 logits; torch runs log_softmax over the vocabulary, adds the beam scores and takes
the top-k over the flattened (beam, token) scores, which is the step Hugging Face's beam search performs.
Both run on one thread. The median of `repeats` runs after one warm-up is reported, in microseconds.
"""
from __future__ import annotations

import statistics
import time

import numpy as np


def _median_us(fn, repeats: int) -> float:
    fn()  # warm-up: first-call allocations and imports
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def sample_step(beams: int, vocab: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((beams, vocab), dtype=np.float32) * 4
    beam_scores = -rng.random(beams, dtype=np.float32) * 10
    return logits, beam_scores


def time_numpy(beams: int, vocab: int, k: int, repeats: int) -> float | str:
    """Median µs per step of the numpy backend, or why it cannot be timed."""
    from beamstream import get_backend
    try:
        backend = get_backend("numpy")
    except (ImportError, AttributeError) as exc:
        return f"numpy backend not available ({exc})"
    logits, beam_scores = sample_step(beams, vocab)
    return _median_us(lambda: backend.step(logits, beam_scores, k), repeats)


def time_torch(beams: int, vocab: int, k: int, repeats: int) -> float | str:
    """Median µs per step of torch log_softmax + topk, or why it cannot be timed."""
    try:
        import torch
    except ImportError:
        return "torch not installed"
    logits, beam_scores = sample_step(beams, vocab)
    x = torch.from_numpy(logits)
    s = torch.from_numpy(beam_scores)

    def step():
        with torch.no_grad():
            scores = torch.log_softmax(x, dim=-1) + s[:, None]
            return torch.topk(scores.view(-1), k)

    # One thread, like NumPy: on a busy 2-core machine torch's second thread waits on the scheduler (~30 ms).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _median_us(step, repeats)
    finally:
        torch.set_num_threads(threads)


def cpu_times(beams: int, vocabs: list[int], k: int, repeats: int) -> dict[str, dict[int, float | str]]:
    """{"numpy": {V: µs or reason}, "torch": {...}} for each vocabulary size."""
    return {"numpy": {v: time_numpy(beams, v, k, repeats) for v in vocabs},
            "torch": {v: time_torch(beams, v, k, repeats) for v in vocabs}}
