"""`generate`: pick greedy, sampling or beam search as transformers' `generate` does, and say which and why.

transformers decides from do_sample and num_beams, each an explicit argument or else the model's
generation_config: do_sample -> sampling (with num_beams > 1 it would be beam sampling, which beamstream does not
do: an error), else num_beams > 1 -> beam search, else greedy. A model whose generation_config sets do_sample=True
(many chat models do) therefore samples unless told otherwise; the result says so in extra["mode"] and
extra["mode_reason"]. An argument that belongs to another mode (top_k without sampling, length_penalty without
beam search) is an error, not silently ignored.
"""
from __future__ import annotations

from ..models import as_model
from .beam import beam_search
from .common import check_int, from_config
from .sampling import greedy, sample

SAMPLING_ONLY = ("top_k", "top_p", "temperature", "min_p", "seed")
BEAM_ONLY = ("length_penalty", "early_stopping")
COMMON = ("max_new_tokens", "eos_token_id", "backend", "repetition_penalty", "no_repeat_ngram_size",
          "bad_words_ids", "min_length", "min_new_tokens", "suppress_tokens", "stop_strings", "tokenizer", "max_time")


def choose_mode(model, do_sample=None, num_beams=None):
    """("greedy" | "sample" | "beam_search", num_beams, why)."""
    adapter = as_model(model)
    where = "argument" if do_sample is not None else "the model's generation_config"
    sampling = bool(from_config(adapter, "do_sample", do_sample, False))
    beams_where = "argument" if num_beams is not None else "the model's generation_config"
    beams = check_int("num_beams", from_config(adapter, "num_beams", num_beams, 1), 1)
    if sampling:
        if beams > 1:
            raise ValueError(f"do_sample=True ({where}) with num_beams={beams} ({beams_where}) is beam sampling, "
                             "which beamstream does not do: pass do_sample=False or num_beams=1")
        return "sample", 1, f"do_sample=True ({where})"
    if beams > 1:
        return "beam_search", beams, f"num_beams={beams} ({beams_where})"
    if do_sample is None and num_beams is None:
        return "greedy", 1, "neither do_sample nor num_beams > 1 (transformers' default)"
    return "greedy", 1, f"do_sample=False, num_beams={beams}"


def generate(model, input_ids, *, do_sample=None, num_beams=None, num_return_sequences=None, **kwargs):
    """Decode like transformers' `generate`: the mode from do_sample / num_beams (arguments, else the model's
    generation_config), the other arguments passed on (see beam_search, greedy, sample). Each result's
    extra["mode"] and extra["mode_reason"] say which decoder ran and why."""
    unknown = set(kwargs) - set(SAMPLING_ONLY) - set(BEAM_ONLY) - set(COMMON)
    if unknown:
        raise ValueError(f"generate: unknown argument(s) {', '.join(sorted(unknown))}")
    mode, beams, why = choose_mode(model, do_sample, num_beams)
    given = {name for name, value in kwargs.items() if value is not None}
    wrong = sorted(given & set(BEAM_ONLY if mode != "beam_search" else ()) |
                   given & set(SAMPLING_ONLY if mode != "sample" else ()))
    if wrong:
        raise ValueError(f"{', '.join(wrong)} do(es) not apply to {mode.replace('_', ' ')} (chosen because {why})")
    if mode == "greedy" and num_return_sequences not in (None, 1):
        raise ValueError(f"num_return_sequences={num_return_sequences} needs beam search or sampling "
                         f"(greedy was chosen because {why})")
    args = {name: value for name, value in kwargs.items() if value is not None}
    args["max_new_tokens"] = from_config(as_model(model), "max_new_tokens", kwargs.get("max_new_tokens"))
    if mode == "sample":
        out = sample(model, input_ids, num_return_sequences=num_return_sequences or 1, **args)
    elif mode == "beam_search":
        out = beam_search(model, input_ids, num_beams=beams, num_return_sequences=num_return_sequences or 1, **args)
    else:
        out = greedy(model, input_ids, **args)
    for res in out if isinstance(out, list) else [out]:
        res.extra.update(mode=mode, mode_reason=why)
    return out
