"""The default model's own cost: the NumPy runtime against transformers + torch on the same GGUF file.

Side by side in one run, each figure from a fresh child process (so thread settings, SIMD limits and peak memory
belong to that measurement alone):
- time per generated token with 4 beams at 16 and 256 tokens of context (the median step of a session advancing
  4 rows with parents [0, 0, 1, 2], so every step reorders the cache), NumPy float32 and float16 vs torch with its
  own KV cache (transformers' DynamicCache, reordered with reorder_cache); the prefill time of a 64-token prompt;
  the cache reorder's share of the NumPy step (from the runtime's profiling phases);
- on this CPU as it is (AVX-512 where present) and with AVX2 emulated: NumPy's SIMD dispatch limited by
  NPY_DISABLE_CPU_FEATURES, torch by ATEN_CPU_CAPABILITY=avx2 and MKL_ENABLE_INSTRUCTIONS=AVX2 (OpenBLAS is pinned
  by OPENBLAS_CORETYPE when the environment sets it);
- peak resident memory (getrusage ru_maxrss) of `beamstream generate` (4 beams, 32 new tokens) with float16 and
  float32 weights, next to the same search through transformers.
Each runtime runs in alternation with the others, and the best of the rounds counts. Both libraries run on one
thread (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS = 1, torch.set_num_threads(1)), the
setting `beamstream generate` uses by default. Goals: NumPy float32 token time <= 1.0x torch's; float16 peak
memory <= 400 MB.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from .simd import AVX2_ENV, cpu_model, numpy_level

GOAL_RATIO = 1.0
GOAL_RSS_MB = 400
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PARENTS = [0, 0, 1, 2]
PROMPT = "The capital of France is"


# -- measurements, each run inside a child process ----------------------------------------------------------------
class _Phases:
    def __init__(self):
        self.seconds = {}

    def phase(self, name):
        bench = self

        class _Timer:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                bench.seconds[name] = bench.seconds.get(name, 0.0) + time.perf_counter() - self.t0

        return _Timer()


def _steps(session, prompt, steps):
    """(prefill seconds, median seconds per 4-beam step) of a session over `prompt`."""
    t0 = time.perf_counter()
    session.start(prompt)
    prefill = time.perf_counter() - t0
    session.advance([0] * len(PARENTS), list(range(100, 100 + len(PARENTS))))
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        session.advance(PARENTS, [200 + i + j for j in range(len(PARENTS))])
        times.append(time.perf_counter() - t0)
    times.sort()
    return prefill, times[len(times) // 2] if times else None


def child_tokens(which, steps):
    """Token and prefill times of one runtime ("float32", "float16" or "torch"), as JSON on stdout."""
    import numpy as np

    from beamstream.models import HFCausalLM, default_gguf, load_hf_default, load_pretrained

    rng = np.random.default_rng(0)
    if which == "torch":
        import torch

        torch.set_num_threads(1)
        adapter = HFCausalLM(load_hf_default(log=lambda m: None)[0])
        make = adapter.session
    else:
        adapter, _ = load_pretrained(default_gguf(), weights=which)
        make = None
    out = {}
    for context in (16, 256):
        prompt = rng.integers(3, 49152, context).tolist()
        if make is None:
            phases = _Phases()
            session = adapter.session(max_rows=len(PARENTS), max_length=context + steps + 2, profiler=phases)
            _steps(session, prompt, steps)                              # warms the buffers, measures the phases
            share = phases.seconds.get("cache_reorder", 0.0) / sum(phases.seconds.values())
            out[f"reorder_share_{context}"] = share
            session = adapter.session(max_rows=len(PARENTS), max_length=context + steps + 2)
            _, step = _steps(session, prompt, steps)
        else:
            _steps(make(), prompt, 2)
            _, step = _steps(make(), prompt, steps)
        out[f"token_{context}"] = step
    prompt = rng.integers(3, 49152, 64).tolist()
    prefills = [_steps(make() if make else adapter.session(), prompt, 0)[0] for _ in range(3)]
    out["prefill_64"] = sorted(prefills)[1]
    if make is None:
        out["weight_mb"] = adapter.weight_bytes / 1e6
        out["kv_kb_per_row_token"] = adapter.kv_bytes_per_row_token / 1e3
    print(json.dumps(out))


def child_rss(which):
    """Peak RSS (MB) of a 4-beam, 32-token generate in this fresh process."""
    import resource

    if which == "torch":
        import torch

        import beamstream
        from beamstream.models import HFCausalLM, load_hf_default

        torch.set_num_threads(1)
        model, tokenizer = load_hf_default(log=lambda m: None)
        beamstream.beam_search(HFCausalLM(model), tokenizer(PROMPT)["input_ids"], num_beams=4, max_new_tokens=32)
    else:
        from contextlib import redirect_stdout
        from io import StringIO

        from beamstream.cli import main

        with redirect_stdout(StringIO()):
            code = main(["generate", PROMPT, "--weights", which, "--num-beams", "4", "--max-new-tokens", "32"])
        if code:
            raise SystemExit(code)
    print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _child(args, extra_env=None, timeout=1800):
    env = {**os.environ, **ONE_THREAD, **(extra_env or {}), "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run([sys.executable, "-m", "beamstream.bench.model", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"bench model {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args):
    quick = getattr(args, "quick", False)
    steps, rounds = (6, 1) if quick else (16, 2)
    print(f"   CPU: {cpu_model()} (numpy {numpy_level()}); one thread per library; median of {steps} steps, parents "
          f"{PARENTS}, best of {rounds} alternated run(s)")
    _child(["tokens", "torch", "1"])               # makes transformers' model cache once, outside the timings
    levels = [(numpy_level(), {})] + ([("AVX2 (emulated)", AVX2_ENV)] if numpy_level() == "AVX-512" else [])
    for level, env in levels:
        res = {}
        for _ in range(rounds):               # alternated; the best of the rounds (other load only slows a run)
            for which in ("float32", "float16", "torch"):
                new = _child(["tokens", which, str(steps)], env)
                res[which] = new if which not in res else {k: min(v, res[which][k]) for k, v in new.items()}
        t, f32, f16 = res["torch"], res["float32"], res["float16"]
        print(f"\n   {level}: ms per token (4 beams)       NumPy f32   NumPy f16   torch   f32/torch   goal <= "
              f"{GOAL_RATIO:.1f}x")
        for ctx in (16, 256):
            key = f"token_{ctx}"
            ratio = f32[key] / t[key]
            print(f"     context {ctx:3d}                     {f32[key] * 1e3:9.1f}   {f16[key] * 1e3:9.1f}   "
                  f"{t[key] * 1e3:5.1f}   {ratio:8.2f}x   {'met' if ratio <= GOAL_RATIO else 'NOT met'}")
        print(f"     prefill 64 tokens (ms)          {f32['prefill_64'] * 1e3:9.1f}   "
              f"{f16['prefill_64'] * 1e3:9.1f}   {t['prefill_64'] * 1e3:5.1f}   "
              f"{f32['prefill_64'] / t['prefill_64']:8.2f}x")
        print(f"     cache reorder share of a f32 step: context 16 {f32['reorder_share_16']:.1%}, "
              f"256 {f32['reorder_share_256']:.1%}")
    print(f"\n   weights in memory: float32 {f32['weight_mb']:.0f} MB, float16 {f16['weight_mb']:.0f} MB; KV cache "
          f"{f32['kv_kb_per_row_token']:.1f} kB per beam per position")
    rss = {which: _child(["rss", which])["rss_mb"] for which in ("float16", "float32", "torch")}
    print(f"   peak RSS of generate (4 beams, 32 new tokens, fresh process): NumPy float16 {rss['float16']:.0f} MB "
          f"(goal <= {GOAL_RSS_MB}: {'met' if rss['float16'] <= GOAL_RSS_MB else 'NOT met'}), float32 "
          f"{rss['float32']:.0f} MB, transformers + torch {rss['torch']:.0f} MB")


if __name__ == "__main__":
    if sys.argv[1] == "tokens":
        child_tokens(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "rss":
        child_rss(sys.argv[2])
    else:
        raise SystemExit(f"unknown child measurement {sys.argv[1]!r}")
