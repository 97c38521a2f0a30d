"""One profile run: the token split over beams x contexts, the vocabulary sweep, memory, the board projections
and the wire-format answers, gathered into one `ProfileData` for render.py.

Timing runs one configuration at a time in this process (two timed decodes side by side would share the cores
and the memory bus); the wire-format prompts are independent points and run on Dask like the report's.
"""
from __future__ import annotations

import importlib.resources
import os
import platform
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from beamstream.report import cluster
from beamstream.report.sweep import files_digest, package_dir

from . import memory, models, offload, token, wire
from .synthetic import SMOLLM2_135M, SyntheticLlama

VOCAB_SWEEP = (8192, 32000, 49152, 128256, 151936, 262144)   # 8k toy .. Llama 3 (128,256), Qwen (151,936), Gemma


@dataclass(frozen=True)
class ProfilePlan:
    beams: tuple = (1, 4, 8)
    contexts: tuple = (16, 64, 256, 1024)
    new_tokens: int = 6                     # tokens per timed decode (the first is the prompt's: 5 in the window)
    repeats: int = 2                        # timed decodes per configuration; the fastest is kept
    vocabs: tuple = VOCAB_SWEEP             # vocabulary sweep on a synthetic model of the default's shape
    sweep_beams: int = 4
    sweep_context: int = 64
    prompts: int = 50                       # wire-format comparison: the first 50 of prompts.txt's 55
    wire_beams: int = 4
    wire_tokens: int = 10


QUICK = ProfilePlan(beams=(1, 4), contexts=(16, 64), new_tokens=4, repeats=1, vocabs=(8192, 49152, 151936),
                    prompts=8, wire_tokens=6)


def prompt_texts(limit: int | None = None) -> list[str]:
    text = importlib.resources.files("beamstream.profile").joinpath("prompts.txt").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[:limit] if limit else lines


@dataclass
class ProfileData:
    plan: ProfilePlan
    model_name: str
    model_note: str
    facts: memory.ModelFacts
    backend: str
    splits: list                            # [TokenSplit] over beams x contexts
    vocab_splits: list                      # [TokenSplit] over the vocabulary sweep
    memory: list                            # [(beams, context, memory_row)]
    fabric: list                            # [(TokenSplit, [FabricToken])]
    basis: offload.ClockBasis
    wire: list                              # [(prompt text, result dict)]
    wire_model: str
    machine: dict = field(default_factory=dict)


def machine_info(threads: int | None) -> dict:
    """CPU model, the SIMD level NumPy dispatches to, BLAS threads: every figure is read with these."""
    from beamstream.bench import simd

    emulated = os.environ.get("NPY_DISABLE_CPU_FEATURES")
    return {"cpu": simd.cpu_model(), "machine": platform.machine(), "numpy": np.__version__,
            "simd": simd.numpy_level() + (" (limited by NPY_DISABLE_CPU_FEATURES)" if emulated else ""),
            "blas_threads": threads if threads else "library default", "python": platform.python_version()}


def blas_threads(threads: int | None):
    """A context limiting BLAS (and OpenMP) to `threads` through threadpoolctl, when it is installed."""
    if not threads:
        return nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(threads)


def _prompt_ids(facts: memory.ModelFacts, context: int, seed: int = 0) -> list[int]:
    """`context` token ids spread over the vocabulary: the timing does not depend on which tokens they are."""
    rng = np.random.default_rng(seed + context)
    return rng.integers(0, facts.vocab, size=context).tolist()


def fastest(model, prompt, beams: int, plan: ProfilePlan, backend: str) -> token.TokenSplit:
    """The split of the fastest of `plan.repeats` decodes: on a shared machine the others carry other work."""
    runs = [token.measure(model, prompt, beams, plan.new_tokens, backend) for _ in range(plan.repeats)]
    return min(runs, key=lambda s: s.total)


def time_grid(loaded: models.Loaded, plan: ProfilePlan, backend: str, bar) -> list[token.TokenSplit]:
    out = []
    for context in plan.contexts:
        for beams in plan.beams:
            bar.set_postfix_str(f"B={beams} context={context}", refresh=True)
            out.append(fastest(loaded.model, _prompt_ids(loaded.facts, context), beams, plan, backend))
            bar.update()
    return out


def time_vocab_sweep(plan: ProfilePlan, backend: str, bar) -> list[token.TokenSplit]:
    """The step's share against the vocabulary: the default model's shape with each vocabulary size."""
    out = []
    for vocab in plan.vocabs:
        bar.set_postfix_str(f"V={vocab:,}", refresh=True)
        m = SyntheticLlama(SMOLLM2_135M.with_vocab(vocab))
        ids = np.random.default_rng(vocab).integers(0, vocab, size=plan.sweep_context).tolist()
        out.append(fastest(m, ids, plan.sweep_beams, plan, backend))
        del m
        bar.update()
    return out


# ---- wire-format answers, one Dask point per prompt ----------------------------------------------------------

_MODELS: dict = {}


def wire_point(ref: str | None, text: str, beams: int, new_tokens: int, weights: str | None = None) -> dict:
    """One prompt's float decode against each wire format's (runs on a worker; the model is loaded once there)."""
    key = (ref, weights)
    if key not in _MODELS:
        try:
            _MODELS[key] = models.load(ref, purpose="answers", weights=weights)
        except (RuntimeError, FileNotFoundError) as exc:
            return {"status": "missing", "error": str(exc)}
    loaded = _MODELS[key]
    ids = loaded.encode(text)
    res = wire.compare_prompt(loaded.model, ids, beams, new_tokens)
    return {"status": "ok", "model": loaded.name, "prompt_tokens": len(ids), **res}


def wire_digest() -> str:
    """Sources the answers depend on: the hardware model, the decoders, the backends, this package."""
    import beamstream.backends
    import beamstream.decode
    import beamstream.hwmodel

    files = [p for mod in (beamstream.hwmodel, beamstream.decode, beamstream.backends, wire)
             for p in package_dir(mod).glob("*.py")]
    return files_digest(files)


def run_wire(ref: str | None, plan: ProfilePlan, cache: cluster.Cache, *, weights, scheduler, workers,
             progress) -> list:
    texts = prompt_texts(plan.prompts)
    digest = wire_digest()
    points = [cluster.Point(cluster.point_key("wire", ref or "<default>", weights, t, plan.wire_beams,
                                              plan.wire_tokens, digest), t[:24], wire_point,
                            (ref, t, plan.wire_beams, plan.wire_tokens, weights))
              for t in texts]
    done = cluster.run_points(points, cache, scheduler=scheduler, workers=workers, desc="wire formats",
                              progress=progress)
    return [(t, done[p.key]) for t, p in zip(texts, points)]


# ---- the whole run -------------------------------------------------------------------------------------------

def run(ref: str | None, plan: ProfilePlan, *, backend: str = "numpy", basis: offload.ClockBasis = offload.NO_REPORT,
        cache: cluster.Cache, weights: str | None = None, scheduler=None, workers: int = 2, threads: int | None = 1,
        answers: bool = True, progress: bool = True) -> ProfileData:
    from tqdm import tqdm

    loaded = models.load(ref, weights=weights)
    with blas_threads(threads):
        total = len(plan.beams) * len(plan.contexts) + (len(plan.vocabs) if ref is None else 0)
        with tqdm(total=total, desc="timing", unit="config", disable=not progress) as bar:
            splits = time_grid(loaded, plan, backend, bar)
            vocab_splits = time_vocab_sweep(plan, backend, bar) if ref is None else []
        wire_cfgs = {fmt: offload.wire_config(fmt, 2 * max(plan.beams)) for fmt in offload.FORMATS}
        mem = [(b, c, memory.memory_row(loaded.facts, b, c, wire_cfgs)) for c in plan.contexts for b in plan.beams]
        fabric = []
        for s in splits:
            pack = {fmt: offload.pack_seconds(fmt, s.beams, s.vocab, s.k) for fmt in offload.FORMATS}
            fabric.append((s, offload.fabric_tokens(s.total, s.seconds["step"], s.beams, s.vocab, s.k, basis, pack)))
    answers_out, wire_model = [], ""
    if answers and ref in models.SYNTHETIC:
        wire_model = "skipped: a synthetic model has random weights, so its answers mean nothing"
    elif answers:
        answers_out = run_wire(ref, plan, cache, weights=weights, scheduler=scheduler, workers=workers,
                               progress=progress)
        wire_model = next((r["model"] for _, r in answers_out if r.get("status") == "ok"), "")
    return ProfileData(plan, loaded.name, loaded.note, loaded.facts, backend, splits, vocab_splits, mem, fabric,
                       basis, answers_out, wire_model, machine_info(threads))
