"""The tokenizer a GGUF file describes, built with the `tokenizers` library from the file's own vocabulary, merges
and special tokens, the way transformers' GGUF loader builds it (integrations/gguf/gguf_tokenizer_mapping.py):

- byte-level BPE (`tokenizer.ggml.model == "gpt2"`, SmolLM2, Llama 3): every token spelled in GPT-2's byte
  alphabet (a token that is not is re-spelled from its UTF-8 bytes), the file's merges, a ByteLevel pre-tokenizer
  (or the split pattern of the file's `tokenizer.ggml.pre` for the Llama 3 family) and decoder;
- sentencepiece BPE (`"llama"`: Llama 2, Mistral, TinyLlama): transformers' LlamaTokenizer (Metaspace with "▁"
  prepended to the text, byte fallback); files without merges are refused;
- control tokens (token type 3) and the named BOS/EOS/UNK/PAD are special tokens, user-defined ones (type 4) added
  tokens, so all stay whole;
- BOS/EOS are added when the file says so (`tokenizer.ggml.add_bos_token` / `add_eos_token`; without the flag a
  sentencepiece vocabulary gets BOS, as in llama.cpp and transformers).

`GGUFTokenizer` offers the part of transformers' tokenizer interface beamstream uses: `tokenizer(text)`, `encode`,
`decode`, `apply_chat_template` (renders the file's chat template with jinja2, which must then be installed),
`save_pretrained` (a tokenizer.json folder transformers can load), and the special token ids.
"""
from __future__ import annotations

import json
import numbers
from pathlib import Path

from .gguf_file import GGUFError

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPLITS = {name: _LLAMA3_SPLIT for name in ("llama3", "llama-v3", "llama-bpe", "smaug-bpe", "dbrx", "falcon3")}
_CONTROL, _USER_DEFINED = 3, 4


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the alphabet of byte-level BPE vocabularies)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def build_tokenizer(meta: dict, path="GGUF"):
    """A `tokenizers.Tokenizer` from GGUF metadata (dict of key -> value)."""
    from tokenizers import AddedToken, Tokenizer, models

    kind = meta.get("tokenizer.ggml.model")
    if kind not in ("gpt2", "llama"):
        raise GGUFError(f"{path}: tokenizer model {kind!r} is not supported by the NumPy runtime's tokenizer (only "
                        "byte-level BPE 'gpt2', as in SmolLM2 and Llama 3, and sentencepiece BPE 'llama')")
    tokens = meta.get("tokenizer.ggml.tokens")
    merges = meta.get("tokenizer.ggml.merges")
    if not tokens or merges is None:
        raise GGUFError(f"{path}: the file has no tokenizer vocabulary or merges (a {kind!r} tokenizer needs both)")
    types = meta.get("tokenizer.ggml.token_type")
    types = [0] * len(tokens) if types is None else [int(t) for t in types]
    pairs = []
    for merge in merges:
        a, sep, b = merge.partition(" ")
        if not sep:
            raise GGUFError(f"{path}: malformed merge {merge!r} in tokenizer.ggml.merges")
        pairs.append((a, b))
    if kind == "gpt2":
        spelling = bytes_to_unicode()
        alphabet = set(spelling.values())
        vocab = {}
        for i, tok in enumerate(tokens):
            word = tok if set(tok) <= alphabet else "".join(spelling[b] for b in tok.encode("utf-8", "surrogateescape"))
            vocab.setdefault(word, i)
        tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False))
        _byte_level(tok, meta.get("tokenizer.ggml.pre"))
        spelled = alphabet                 # a control token outside it is a llama.cpp mislabel (transformers skips it)
    else:
        vocab = {}
        for i, t in enumerate(tokens):
            vocab.setdefault(t, i)
        tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=True, byte_fallback=True))
        _sentencepiece(tok)
        spelled = None
    named = {int(meta[f"tokenizer.ggml.{key}"]) for key in ("bos_token_id", "eos_token_id", "unknown_token_id",
                                                              "padding_token_id") if f"tokenizer.ggml.{key}" in meta}
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for i, (t, kind_) in
                            enumerate(zip(tokens, types))
                            if (kind_ == _CONTROL and (spelled is None or set(t) <= spelled)) or i in named])
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t, kind_ in zip(tokens, types)
                    if kind_ == _USER_DEFINED and t in vocab])
    _post_processor(tok, meta, tokens, add_bos_default=kind == "llama")
    return tok


def _byte_level(tok, pre):
    from tokenizers import Regex, decoders, pre_tokenizers

    split = SPLITS.get(pre)
    if split is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                              use_regex=False)])
    tok.decoder = decoders.ByteLevel()


def _sentencepiece(tok):
    """transformers' LlamaTokenizer: "▁" for spaces, one prepended to the text's start, byte fallback."""
    from tokenizers import decoders, pre_tokenizers

    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(content=" ", left=1, right=0)])


def _post_processor(tok, meta, tokens, add_bos_default):
    """BOS / EOS around every encoding when the file asks (sentencepiece files without the flag: BOS, as
    llama.cpp and transformers do)."""
    from tokenizers import processors

    single, pair, special = "$A:0", "$B:1", []
    for flag, key, default in (("add_bos_token", "bos_token_id", add_bos_default),
                               ("add_eos_token", "eos_token_id", False)):
        tid = meta.get(f"tokenizer.ggml.{key}")
        if meta.get(f"tokenizer.ggml.{flag}", default) and tid is not None:
            name = tokens[int(tid)]
            if key == "bos_token_id":
                single, pair = f"{name}:0 {single}", f"{name}:1 {pair}"
            else:
                single, pair = f"{single} {name}:0", f"{pair} {name}:1"
            special.append((name, int(tid)))
    if special:
        tok.post_processor = processors.TemplateProcessing(single=single, pair=f"{single} {pair}",
                                                           special_tokens=special)


class GGUFTokenizer:
    """transformers-like tokenizer over a GGUF file's vocabulary (see the module docstring)."""

    def __init__(self, gguf):
        meta = gguf.metadata
        self.backend_tokenizer = build_tokenizer(meta, gguf.path)
        tokens = meta["tokenizer.ggml.tokens"]
        self.vocab_size = len(tokens)
        self.chat_template = meta.get("tokenizer.chat_template")
        for name, key in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unk", "unknown_token_id"),
                          ("pad", "padding_token_id")):
            tid = meta.get(f"tokenizer.ggml.{key}")
            setattr(self, f"{name}_token_id", None if tid is None else int(tid))
            setattr(self, f"{name}_token", None if tid is None else tokens[int(tid)])

    def encode(self, text, add_special_tokens=True) -> list[int]:
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        return self.backend_tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": self.encode(text, add_special_tokens=add_special_tokens)}

    def decode(self, ids, skip_special_tokens=False) -> str:
        return self.backend_tokenizer.decode([int(t) for t in ids], skip_special_tokens=skip_special_tokens)

    def convert_ids_to_tokens(self, ids):
        """The vocabulary's token strings for `ids` (a list), or for one id (a str), as transformers' fast
        tokenizers give them; stop strings (beamstream.decode.stopping) read tokens through these two."""
        if isinstance(ids, numbers.Integral):
            return self.backend_tokenizer.id_to_token(int(ids))
        return [self.backend_tokenizer.id_to_token(int(t)) for t in ids]

    def convert_tokens_to_string(self, tokens) -> str:
        return self.backend_tokenizer.decoder.decode(list(tokens))

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=True, **kwargs):
        """The file's chat template rendered as transformers renders it (jinja2 sandbox, trim_blocks,
        lstrip_blocks), then tokenised without adding special tokens."""
        if self.chat_template is None:
            raise ValueError("this tokenizer has no chat template")
        try:
            import jinja2.ext
            from jinja2.sandbox import ImmutableSandboxedEnvironment
        except ImportError:
            raise RuntimeError("chat templates need jinja2: pip install jinja2") from None

        def raise_exception(message):
            raise jinja2.exceptions.TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
        env.globals["raise_exception"] = raise_exception
        text = env.from_string(self.chat_template).render(
            messages=messages, add_generation_prompt=add_generation_prompt, bos_token=self.bos_token,
            eos_token=self.eos_token, unk_token=self.unk_token, pad_token=self.pad_token, **kwargs)
        return self.encode(text, add_special_tokens=False) if tokenize else text

    def save_pretrained(self, folder):
        """Write tokenizer.json and tokenizer_config.json: a folder transformers' AutoTokenizer loads."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.backend_tokenizer.save(str(folder / "tokenizer.json"))
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
                  "bos_token": self.bos_token, "eos_token": self.eos_token, "unk_token": self.unk_token,
                  "pad_token": self.pad_token}
        if self.chat_template is not None:
            config["chat_template"] = self.chat_template
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1, ensure_ascii=False))
