"""Small random Llama GGUF files for the runtime's tests, written with the gguf package's own GGUFWriter."""
import numpy as np


def permute(w, n_head):
    """llama.cpp's convert-time q/k row order (what a real GGUF holds)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_llama(path, *, vocab=64, dim=32, layers=2, heads=4, kv_heads=2, ffn=48, context=64, tied=False,
                     rope_linear=None, arch="llama", down_type=None, seed=0):
    """A random Llama GGUF at `path`. down_type: a gguf.GGMLQuantizationType for the ffn_down tensors (raw bytes of
    that type, to test refusals); default float16 (a supported non-f32 type)."""
    import gguf

    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_context_length(context)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(5000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_rope_dimension_count(dim // heads)
    if rope_linear:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(rope_linear)
    hd = dim // heads

    def f(*shape):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    w.add_tensor("token_embd.weight", f(vocab, dim))
    if not tied:
        w.add_tensor("output.weight", f(vocab, dim))
    w.add_tensor("output_norm.weight", 1 + f(dim))
    for i in range(layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", 1 + f(dim))
        w.add_tensor(p + "ffn_norm.weight", 1 + f(dim))
        w.add_tensor(p + "attn_q.weight", permute(f(heads * hd, dim), heads))
        w.add_tensor(p + "attn_k.weight", permute(f(kv_heads * hd, dim), kv_heads))
        w.add_tensor(p + "attn_v.weight", f(kv_heads * hd, dim))
        w.add_tensor(p + "attn_output.weight", f(dim, heads * hd))
        w.add_tensor(p + "ffn_gate.weight", f(ffn, dim))
        w.add_tensor(p + "ffn_up.weight", f(ffn, dim))
        if down_type is None:
            w.add_tensor(p + "ffn_down.weight", f(dim, ffn).astype(np.float16))
        else:
            block, size = gguf.GGML_QUANT_SIZES[down_type]
            raw = rng.integers(0, 256, (dim, ffn // block * size), dtype=np.uint8)
            w.add_tensor(p + "ffn_down.weight", raw, raw_dtype=down_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _vocab_only(w, path, n_tokens):
    """Finish a tokenizer-only GGUF (one zero embedding tensor, so the file has a tensor table)."""
    w.add_tensor("token_embd.weight", np.zeros((n_tokens, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_tiny_sentencepiece_vocab(path, *, add_bos=None):
    """A GGUF holding only a small sentencepiece-BPE tokenizer (llama.cpp's 'llama' model): byte-fallback tokens,
    a few pieces and merges, a control token."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    pieces = ["▁", "t", "h", "e", "a", "o", "n", "s", "▁t", "he", "▁the", "▁a", "an", "▁an", "d", "▁and", "r", "i",
              "c", "at", "▁c", "▁cat", "▁s", "x", "<|user|>"]
    tokens += pieces
    types += [1] * (len(pieces) - 1) + [3]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_merges(["▁ t", "h e", "▁t he", "▁ a", "a n", "▁a n", "▁an d", "a t", "▁ c", "▁c at", "▁ s"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    if add_bos is not None:
        w.add_add_bos_token(add_bos)
    return _vocab_only(w, path, len(tokens))


def write_tiny_byte_level_vocab(path, *, pre="llama-bpe", add_bos=True):
    """A GGUF holding only a small byte-level BPE tokenizer ('gpt2' model, Llama 3 style pre-tokenizer name):
    the 256 byte symbols, a few merges, control tokens."""
    import gguf

    from beamstream.models.gguf_tokenizer import bytes_to_unicode

    tokens = ["<|begin_of_text|>", "<|end_of_text|>"] + list(bytes_to_unicode().values())
    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "a n", "Ġa n", "Ġan d", "1 2", "12 3", "' s", "Ċ Ċ", "Ġ Ġ"]
    tokens += [m.replace(" ", "") for m in merges] + ["<|eot_id|>"]
    types = [3, 3] + [1] * (len(tokens) - 3) + [3]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    w.add_add_bos_token(add_bos)
    return _vocab_only(w, path, len(tokens))
