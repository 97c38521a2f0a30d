"""`beamstream generate "PROMPT" ...`: decode prompts with the embedded default model (or --model FILE.gguf / DIR).

Several prompts: as arguments, or one per line from --prompts-file (a path, or - for stdin); they run as one batch
(one model forward per step). The mode: --greedy or --sample, else beam search when --num-beams is given, else
what the model's generation_config says (do_sample=True -> sampling), else beam search with 4 beams; the output
says which mode ran and why. An option of another mode (--top-k without sampling, --num-beams with --greedy) is an
error. The prompt is used as plain text (a completion); --chat wraps it in the tokenizer's chat template as a
user turn instead. Prints each decoded text with its score, then the backend that ran. Loading messages go to
stderr. The model runs on --threads (default 1). The default model and GGUF files run on the NumPy runtime (no
torch import); a folder runs through transformers.
"""
from __future__ import annotations

import sys
import time

DEFAULT_BEAMS = 4
SAMPLING_OPTIONS = {"top_k": "--top-k", "top_p": "--top-p", "temperature": "--temperature", "min_p": "--min-p",
                    "seed": "--seed"}
BEAM_OPTIONS = {"num_beams": "--num-beams", "length_penalty": "--length-penalty",
                "early_stopping": "--early-stopping"}


def _early_stopping(text):
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    if value == "never":
        return "never"
    raise ValueError(f"--early-stopping must be true, false or never, got {text!r}")


def add_arguments(parser):
    from ..backends import backend_names

    # options of one mode default to None, so that "given" can be told from "default" (and refused elsewhere)
    parser.add_argument("prompts", nargs="*", metavar="PROMPT", help="texts to continue (one batch)")
    parser.add_argument("--prompts-file", metavar="PATH", default=None,
                        help="read prompts one per line from PATH (- for stdin); blank lines are skipped")
    parser.add_argument("--model", metavar="FILE.gguf|DIR", default=None,
                        help="a Llama GGUF file (NumPy runtime) or a local folder of a Hugging Face causal LM "
                             "(transformers) (default: the embedded SmolLM2-135M-Instruct on the NumPy runtime)")
    parser.add_argument("--weights", choices=("float32", "float16"), default=None,
                        help="NumPy runtime weights: float32 (fast, default on 64-bit) or float16 (half the memory, "
                             "default on 32-bit)")
    parser.add_argument("--backend", default="numpy", metavar="NAME",
                        help=f"backend that runs each step: {', '.join(backend_names())} (default numpy)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens to generate at most (default 32)")
    parser.add_argument("--num-return-sequences", type=int, default=None,
                        help="sequences per prompt (beam search or sampling; default 1)")
    parser.add_argument("--chat", action="store_true", help="wrap each prompt in the tokenizer's chat template")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true", help="greedy search")
    mode.add_argument("--sample", action="store_true", help="sampling (top-k / top-p / min-p / temperature)")
    beam = parser.add_argument_group("beam search")
    beam.add_argument("--num-beams", type=int, default=None, help=f"beams (default {DEFAULT_BEAMS})")
    beam.add_argument("--length-penalty", type=float, default=None, help="exponent on the length (default 1.0)")
    beam.add_argument("--early-stopping", type=_early_stopping, default=None, metavar="{true,false,never}",
                      help="transformers' early_stopping (default false)")
    samp = parser.add_argument_group("sampling")
    samp.add_argument("--top-k", type=int, default=None, help="keep the k likeliest (0: all; default 50)")
    samp.add_argument("--top-p", type=float, default=None, help="nucleus mass (default 1.0)")
    samp.add_argument("--min-p", type=float, default=None, help="drop tokens below min-p x the likeliest's probability")
    samp.add_argument("--temperature", type=float, default=None, help="temperature (default 1.0)")
    samp.add_argument("--seed", type=int, default=None, help="seed for reproducible draws")
    proc = parser.add_argument_group("logits processors and stopping (every mode; transformers' semantics)")
    proc.add_argument("--repetition-penalty", type=float, default=None, help="e.g. 1.2 (1.0: off)")
    proc.add_argument("--no-repeat-ngram-size", type=int, default=None, help="never repeat an n-gram of this size")
    proc.add_argument("--min-new-tokens", type=int, default=None, help="no EOS before this many new tokens")
    proc.add_argument("--bad-words", action="append", default=None, metavar="TEXT",
                      help="text never to generate (its tokens, without special tokens; repeat the option for more)")
    proc.add_argument("--stop", action="append", default=None, metavar="TEXT",
                      help="stop a sequence once it produces TEXT (repeatable)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch / OpenBLAS threads for the model (default 1: a decode step's matmuls are small, "
                             "and on a busy machine their threads stall each other badly)")


def _read_prompts(args):
    prompts = list(args.prompts)
    if args.prompts_file is not None:
        if args.prompts_file == "-":
            lines = sys.stdin.read().splitlines()
        else:
            with open(args.prompts_file, encoding="utf-8") as f:
                lines = f.read().splitlines()
        prompts += [line for line in lines if line.strip()]
    if not prompts:
        raise ValueError("no prompt: give PROMPT arguments or --prompts-file")
    for i, prompt in enumerate(prompts, 1):
        if not prompt.strip():
            raise ValueError(f"prompt {i} is empty")
    return prompts


def _check_mode_options(args, mode_flag):
    """Options that belong to another mode are errors (their defaults are None, so "given" is "not None")."""
    if mode_flag == "greedy":
        wrong = {**SAMPLING_OPTIONS, **BEAM_OPTIONS}
    elif mode_flag == "sample":
        wrong = BEAM_OPTIONS
    elif mode_flag == "beam_search":
        wrong = SAMPLING_OPTIONS
    else:
        return
    given = [flag for name, flag in wrong.items() if getattr(args, name) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} do(es) not apply to {mode_flag.replace('_', ' ')}")
    if mode_flag == "greedy" and args.num_return_sequences not in (None, 1):
        raise ValueError("--num-return-sequences needs beam search or --sample, not --greedy")


def run(args):
    from ..backends import get_backend
    from ..decode import generate
    from ..decode.mode import choose_mode
    from ..models import DEFAULT_NAME, HFCausalLM, as_model, is_hf_model, load_pretrained
    from ..models.blas_threads import set_blas_threads

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    texts = _read_prompts(args)
    # the mode as far as the options fix it; the model's generation_config decides the rest below
    flag = ("greedy" if args.greedy else "sample" if args.sample
            else "beam_search" if args.num_beams is not None else None)
    _check_mode_options(args, flag)
    backend = get_backend(args.backend)          # an unknown name fails here, before the model loads
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    set_blas_threads(args.threads)
    t0 = time.perf_counter()
    model, tokenizer = load_pretrained(args.model, weights=args.weights, log=log)
    log(f"beamstream: model loaded in {time.perf_counter() - t0:.1f} s")
    prompts = [_encode(tokenizer, text, args.chat) for text in texts]
    if is_hf_model(model):                       # only a folder brings torch in
        import torch

        torch.set_num_threads(args.threads)
        lm = HFCausalLM(model)
    else:
        lm = as_model(model)

    if flag is None:        # no mode option: generate's rule on the model's config, else beam search with 4 beams
        mode, _, why = choose_mode(lm)
        if mode == "greedy":
            flag, reason = "beam_search", f"the default, {DEFAULT_BEAMS} beams: the model's config asks for nothing"
        else:
            flag, reason = mode, why
        _check_mode_options(args, flag)
    else:
        reason = {"greedy": "--greedy", "sample": "--sample", "beam_search": "--num-beams"}[flag]
    num_beams = DEFAULT_BEAMS if args.num_beams is None else args.num_beams
    bad_words = None if not args.bad_words else \
        [tokenizer(w, add_special_tokens=False)["input_ids"] for w in args.bad_words]
    kwargs = dict(max_new_tokens=args.max_new_tokens, backend=backend, repetition_penalty=args.repetition_penalty,
                  no_repeat_ngram_size=args.no_repeat_ngram_size, min_new_tokens=args.min_new_tokens,
                  bad_words_ids=bad_words, stop_strings=args.stop, tokenizer=tokenizer if args.stop else None,
                  num_return_sequences=args.num_return_sequences)
    if flag == "sample":
        kwargs.update(do_sample=True, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                      temperature=args.temperature, seed=args.seed)
    elif flag == "beam_search":
        kwargs.update(do_sample=False, num_beams=num_beams, length_penalty=args.length_penalty,
                      early_stopping=args.early_stopping)
    else:
        kwargs.update(do_sample=False, num_beams=1)
    t0 = time.perf_counter()
    results = generate(lm, prompts, **kwargs)
    elapsed = time.perf_counter() - t0

    print(f"model: {args.model or DEFAULT_NAME}")
    print(f"decoding: {_describe(flag, kwargs, num_beams)}, max_new_tokens={args.max_new_tokens} ({reason})")
    processors = _processors_text(args)
    if processors:
        print(f"processors: {processors}")
    for n, (ids, result) in enumerate(zip(prompts, results), 1):
        if len(prompts) > 1:
            print(f"\n== prompt {n}")
        for i, (seq, score) in enumerate(zip(result.sequences, result.scores), 1):
            prompt_text = tokenizer.decode(ids, skip_special_tokens=True)
            new_text = tokenizer.decode(seq[len(ids):], skip_special_tokens=True)
            print(f"\n[{i}] score {score:.4f}")
            print(prompt_text + new_text if not args.chat else new_text)
    steps = results[0].steps                  # the counts are the whole batch's, on every result
    edited = results[0].extra.get("edited_steps", 0)
    fallbacks = results[0].extra.get("fallback_steps", 0)
    extra = f", {edited} re-ranked after the processors, {fallbacks} needed a host pass" if edited else ""
    print(f"\nbackend: {results[0].backend} ({steps} steps{extra}, {elapsed:.2f} s)")
    return 0


def _encode(tokenizer, text, chat):
    if chat:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("--chat: this tokenizer has no chat template")
        ids = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                            tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
    else:
        ids = tokenizer(text)["input_ids"]
    return [int(t) for t in ids]


def _describe(flag, kwargs, num_beams):
    if flag == "greedy":
        return "greedy"
    if flag == "sample":
        shown = {k: kwargs[k] for k in ("top_k", "top_p", "min_p", "temperature", "seed") if kwargs[k] is not None}
        return "sample" + (f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else "")
    lp = 1.0 if kwargs["length_penalty"] is None else kwargs["length_penalty"]
    es = False if kwargs["early_stopping"] is None else kwargs["early_stopping"]
    return f"beam search (num_beams={num_beams}, length_penalty={lp}, early_stopping={es})"


def _processors_text(args):
    parts = [f"{flag}={value}" for flag, value in (
        ("repetition_penalty", args.repetition_penalty), ("no_repeat_ngram_size", args.no_repeat_ngram_size),
        ("min_new_tokens", args.min_new_tokens), ("bad_words", args.bad_words), ("stop", args.stop))
        if value is not None]
    return ", ".join(parts)
