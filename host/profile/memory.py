"""What a decode holds in memory beside its time: weights, the KV cache per beam and per token, logits buffers.

Figures come from the model's shape and the arrays' item sizes (no process-wide measurement: other arrays of
the same process would blur them). A model says its shape through `facts_of`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from beamstream.hw.interface import CoreConfig
from beamstream.report.bandwidth import step_bytes

LOGITS_ITEMSIZE = 4  # the decoders see float32 logits (check_step converts to float32 contiguous)


@dataclass(frozen=True)
class ModelFacts:
    name: str
    layers: int
    kv_heads: int
    head_dim: int
    vocab: int
    weight_bytes: int
    kv_itemsize: int = 4        # bytes per cached key or value element

    @property
    def kv_bytes_per_token_per_beam(self) -> int:
        """One position of one beam: a key and a value vector per KV head, in every layer."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.kv_itemsize


def facts_of(model) -> ModelFacts:
    """Shape facts of a synthetic model, a NumPy runtime model (its `shape`-like config) or a Hugging Face one."""
    shape = getattr(model, "shape", None)
    if shape is not None and hasattr(shape, "kv_heads"):          # synthetic
        return ModelFacts(model.name, shape.layers, shape.kv_heads, shape.head_dim, shape.vocab,
                          int(model.weight_bytes))
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "n_kv_heads"):            # the NumPy runtime (float32 KV cache)
        return ModelFacts(str(getattr(model.model, "path", "NumPy runtime")), cfg.n_layers, cfg.n_kv_heads,
                          cfg.head_dim, cfg.vocab_size, int(model.weight_bytes))
    hf = getattr(model, "model", model)                # HFCausalLM adapter or a PreTrainedModel
    cfg = getattr(hf, "config", None)
    if cfg is None or not hasattr(cfg, "num_hidden_layers"):
        raise ValueError(f"profile: cannot tell the shape of {type(model).__name__} (no shape or config)")
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    weight_bytes = sum(p.numel() * p.element_size() for p in hf.parameters())
    itemsize = next(hf.parameters()).element_size()
    return ModelFacts(getattr(cfg, "name_or_path", "") or type(hf).__name__, cfg.num_hidden_layers,
                      getattr(cfg, "num_key_value_heads", None) or heads, head_dim, cfg.vocab_size,
                      int(weight_bytes), itemsize)


def memory_row(facts: ModelFacts, beams: int, context: int, wire: dict[str, CoreConfig]) -> dict:
    """Bytes held by one decode of `beams` beams at `context` tokens; `wire` maps a format to its core build."""
    per_beam = facts.kv_bytes_per_token_per_beam * context
    row = {"weights": facts.weight_bytes, "kv_per_token_per_beam": facts.kv_bytes_per_token_per_beam,
           "kv_per_beam": per_beam, "kv_total": per_beam * beams,
           "logits": beams * facts.vocab * LOGITS_ITEMSIZE}
    for fmt, cfg in wire.items():  # the DMA buffer of one step in that format (headers and padding included)
        row[f"wire_{fmt}"] = step_bytes(cfg, beams, facts.vocab, 1).to_core
    return row


def facts_dict(facts: ModelFacts) -> dict:
    return dict(asdict(facts), kv_bytes_per_token_per_beam=facts.kv_bytes_per_token_per_beam)
