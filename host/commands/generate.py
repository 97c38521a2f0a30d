"""`beamstream generate "PROMPT"`: decode a prompt with the embedded default model (or --model FILE.gguf / DIR).

Beam search by default (num_beams=4); --greedy or --sample switch the decoder. The prompt is used as plain text
(a completion); --chat wraps it in the tokenizer's chat template as a user turn instead. Prints each decoded text
with its score, then the backend that ran. Loading messages go to stderr. The model runs on --threads (default 1).
The default model and GGUF files run on the NumPy runtime (no torch import); a folder runs through transformers.
"""
from __future__ import annotations

import sys
import time


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

    parser.add_argument("prompt", help="text to continue")
    parser.add_argument("--model", metavar="FILE.gguf|DIR", default=None,
                        help="a Llama GGUF file (NumPy runtime) or a local folder of a Hugging Face causal LM "
                             "(transformers) (default: the embedded SmolLM2-135M-Instruct on the NumPy runtime)")
    parser.add_argument("--weights", choices=("float32", "float16"), default=None,
                        help="NumPy runtime weights: float32 (fast, default on 64-bit) or float16 (half the memory, "
                             "default on 32-bit)")
    parser.add_argument("--backend", default="numpy", metavar="NAME",
                        help=f"backend that runs each step: {', '.join(backend_names())} (default numpy)")
    parser.add_argument("--num-beams", type=int, default=4, help="beams (default 4)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens to generate at most (default 32)")
    parser.add_argument("--length-penalty", type=float, default=1.0, help="exponent on the length (default 1.0)")
    parser.add_argument("--early-stopping", type=_early_stopping, default=False, metavar="{true,false,never}",
                        help="transformers' early_stopping (default false)")
    parser.add_argument("--num-return-sequences", type=int, default=1, help="sequences to print (default 1)")
    parser.add_argument("--chat", action="store_true", help="wrap the prompt in the tokenizer's chat template")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true", help="greedy search instead of beam search")
    mode.add_argument("--sample", action="store_true", help="top-k / top-p sampling instead of beam search")
    parser.add_argument("--top-k", type=int, default=50, help="with --sample: keep the k likeliest (0: all; default 50)")
    parser.add_argument("--top-p", type=float, default=1.0, help="with --sample: nucleus mass (default 1.0)")
    parser.add_argument("--temperature", type=float, default=1.0, help="with --sample: temperature (default 1.0)")
    parser.add_argument("--seed", type=int, default=None, help="with --sample: seed for reproducible draws")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch / OpenBLAS threads for the model (default 1: a decode step's matmuls are small, "
                             "and on a busy machine their threads stall each other badly)")


def run(args):
    from .. import beam_search, greedy, sample
    from ..backends import get_backend
    from ..models import DEFAULT_NAME, HFCausalLM, as_model, is_hf_model, load_pretrained
    from ..models.blas_threads import set_blas_threads

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    if not args.prompt.strip():
        raise ValueError("the prompt is empty")
    backend = get_backend(args.backend)          # an unknown name fails here, before the model loads
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    set_blas_threads(args.threads)
    t0 = time.perf_counter()
    model, tokenizer = load_pretrained(args.model, weights=args.weights, log=log)
    log(f"beamstream: model loaded in {time.perf_counter() - t0:.1f} s")
    if args.chat:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("--chat: this tokenizer has no chat template")
        ids = tokenizer.apply_chat_template([{"role": "user", "content": args.prompt}], add_generation_prompt=True,
                                            tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
    else:
        ids = tokenizer(args.prompt)["input_ids"]
    ids = [int(t) for t in ids]
    if is_hf_model(model):                       # only a folder brings torch in
        import torch

        torch.set_num_threads(args.threads)
        lm = HFCausalLM(model)
    else:
        lm = as_model(model)

    t0 = time.perf_counter()
    if args.greedy:
        what = "greedy"
        result = greedy(lm, ids, max_new_tokens=args.max_new_tokens, backend=backend)
    elif args.sample:
        what = f"sample (top_k={args.top_k}, top_p={args.top_p}, temperature={args.temperature}, seed={args.seed})"
        result = sample(lm, ids, max_new_tokens=args.max_new_tokens, top_k=args.top_k, top_p=args.top_p,
                        temperature=args.temperature, seed=args.seed,
                        num_return_sequences=args.num_return_sequences, backend=backend)
    else:
        what = (f"beam search (num_beams={args.num_beams}, length_penalty={args.length_penalty}, "
                f"early_stopping={args.early_stopping})")
        result = beam_search(lm, ids, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens,
                             length_penalty=args.length_penalty, early_stopping=args.early_stopping,
                             num_return_sequences=args.num_return_sequences, backend=backend)
    elapsed = time.perf_counter() - t0

    name = args.model or DEFAULT_NAME
    print(f"model: {name}")
    print(f"decoding: {what}, max_new_tokens={args.max_new_tokens}")
    for i, (seq, score) in enumerate(zip(result.sequences, result.scores), 1):
        prompt_text = tokenizer.decode(ids, skip_special_tokens=True)
        new_text = tokenizer.decode(seq[len(ids):], skip_special_tokens=True)
        print(f"\n[{i}] score {score:.4f}")
        print(prompt_text + new_text if not args.chat else new_text)
    print(f"\nbackend: {result.backend} ({result.steps} steps, {elapsed:.2f} s)")
    return 0
