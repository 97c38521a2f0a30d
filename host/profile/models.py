"""The model a profile runs: the default (NumPy runtime), a `--model` path, or a synthetic Llama, with what the
profile needs from it: sessions that report phases, a tokenizer for the prompt set, and its shape.

Where the NumPy runtime is not installed, the default's *timing* runs on a synthetic Llama of SmolLM2-135M's
shape (same matrices, random weights: the same arithmetic per token), and its *answers* (the wire-format
comparison, which needs real logits) on the default model through transformers when that is installed; the
profile says which it used.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from .memory import ModelFacts, facts_of
from .synthetic import SMOLLM2_135M, TINY, SyntheticLlama

SYNTHETIC = {"synthetic-smollm2": SMOLLM2_135M, "synthetic-tiny": TINY}


@dataclass
class Loaded:
    name: str
    model: object                        # has session(profiler=None) (or session() when it has no phases)
    facts: ModelFacts
    encode: Callable[[str], list[int]] | None   # None: no tokenizer (synthetic models)
    note: str = ""


def numpy_runtime():
    """The NumPy runtime's module (issue 10), or None while it is not installed."""
    for name in ("beamstream.models.runtime", "beamstream.models.llama"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def load(ref: str | None, *, purpose: str = "timing") -> Loaded:
    """`ref`: None (the default model), a synthetic name (SYNTHETIC), or a path (HF folder). `purpose` "answers"
    refuses a synthetic stand-in, whose logits mean nothing."""
    if ref in SYNTHETIC:
        if purpose == "answers":
            raise RuntimeError(f"{ref} has random weights and no tokenizer: its answers mean nothing")
        m = SyntheticLlama(SYNTHETIC[ref])
        return Loaded(m.name, m, facts_of(m), None)
    if ref is None:
        rt = numpy_runtime()
        if rt is not None:
            model, tokenizer = rt.load_pretrained()
            return Loaded(getattr(model, "name", "default (NumPy runtime)"), model, facts_of(model),
                          tokenizer.encode)
        if purpose == "timing":
            m = SyntheticLlama(SMOLLM2_135M, name="synthetic SmolLM2-135M shape (random weights)")
            return Loaded(m.name, m, facts_of(m), None,
                          note="the NumPy runtime is not installed: timed on a random-weight Llama of the default "
                               "model's shape (30 x 576, 9/3 heads, d_ff 1536, V 49,152)")
    from beamstream.models import HFCausalLM, load_pretrained

    try:
        model, tokenizer = load_pretrained(ref, log=lambda msg: None)
    except ImportError as exc:
        raise RuntimeError(f"profile: loading {ref or 'the default model'} needs transformers and torch here "
                           f"(pip install 'beamstream[hf]'): {exc}") from exc
    name = ref or "default (SmolLM2-135M-Instruct through transformers)"
    return Loaded(name, HFCausalLM(model), facts_of(model),
                  lambda text: tokenizer(text)["input_ids"], note="Hugging Face model: forward not split by phase")
