"""The model a profile runs: the default (the NumPy runtime), a `--model` path, or a synthetic Llama, with what
the profile needs from it: sessions that report phases, a tokenizer for the prompt set, and its shape.

The default and any Llama `.gguf` run on the NumPy runtime (`beamstream.models.load_pretrained`), whose sessions
take a `profiler`; a Hugging Face folder runs through transformers, its forward not split by phase.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from .memory import ModelFacts, facts_of
from .synthetic import SMOLLM2_135M, TINY, SyntheticLlama

SYNTHETIC = {"synthetic-smollm2": SMOLLM2_135M, "synthetic-tiny": TINY}


@dataclass
class Loaded:
    name: str
    model: object                               # has session(...); with profiler= when it reports phases
    facts: ModelFacts
    encode: Callable[[str], list[int]] | None   # None: no tokenizer (synthetic models)
    note: str = ""


def load(ref: str | None, *, purpose: str = "timing", weights: str | None = None) -> Loaded:
    """`ref`: None (the default model), a synthetic name (SYNTHETIC), a `.gguf` file or a Hugging Face folder.
    `purpose` "answers" refuses a synthetic model, whose logits mean nothing."""
    if ref in SYNTHETIC:
        if purpose == "answers":
            raise RuntimeError(f"{ref} has random weights and no tokenizer: its answers mean nothing")
        m = SyntheticLlama(SYNTHETIC[ref])
        return Loaded(m.name, m, facts_of(m), None)
    from beamstream.models import DEFAULT_NAME, HFCausalLM, is_hf_model, load_pretrained

    try:
        model, tokenizer = load_pretrained(ref, weights=weights, log=lambda msg: None)
    except ImportError as exc:
        raise RuntimeError(f"profile: loading {ref} needs transformers and torch here "
                           f"(pip install 'beamstream[hf]'): {exc}") from exc
    if is_hf_model(model):
        return Loaded(ref, HFCausalLM(model), facts_of(model), lambda text: tokenizer(text)["input_ids"],
                      note="A Hugging Face model through transformers: its forward is not split by phase.")
    form = getattr(getattr(getattr(model, "model", None), "weights", None), "form", None)
    name = (DEFAULT_NAME if ref is None else str(ref)) + " on the NumPy runtime" + (f", {form} weights" if form
                                                                                    else "")
    return Loaded(name, model, facts_of(model), tokenizer.encode)


def open_session(model, **wanted):
    """(session, phased): `model.session(...)` with those of `wanted` (profiler, max_rows, max_length) that its
    signature takes; phased says whether it took the profiler."""
    try:
        params = inspect.signature(model.session).parameters
    except (TypeError, ValueError):
        params = {}
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in wanted.items() if takes_all or k in params}
    return model.session(**kwargs), "profiler" in kwargs
