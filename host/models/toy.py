"""A toy language model whose logits cost (almost) nothing, as a plain callable and as a Hugging Face model.

The next-token logits of a prefix are one row of a fixed random table [rows, V], picked by the prefix's last
token and length, so both forms give the same logits for the same prefix at the cost of one row gather. Used by
the whole-search benchmark and the parity tests against transformers' own `generate`.
"""
from __future__ import annotations

import numpy as np


def make_table(vocab: int, rows: int = 64, *, seed: int = 0, scale: float = 4.0) -> np.ndarray:
    """float32 [rows, vocab] logits table."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((rows, vocab), dtype=np.float32) * np.float32(scale)).astype(np.float32)


def row_of(last_token, length, rows):
    """Which table row a prefix reads (works on ints and on integer arrays alike)."""
    return (last_token * 7919 + length * 104729) % rows


def toy_fn(table: np.ndarray):
    """fn(prefixes) -> logits[len(prefixes), V] reading `table`."""
    rows = table.shape[0]

    def fn(prefixes):
        idx = [row_of(p[-1], len(p), rows) for p in prefixes]
        return table[idx]

    return fn


def toy_hf_model(table: np.ndarray, *, eos_token_id=None):
    """A transformers PreTrainedModel (GenerationMixin) with the same logits as `toy_fn(table)`, without a cache.

    Call its generate(..., use_cache=False): the whole prefix is passed each step and only its end is read.
    """
    import torch
    from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
    from transformers.modeling_outputs import CausalLMOutputWithPast

    rows, vocab = table.shape

    class ToyConfig(PretrainedConfig):
        model_type = "beamstream-toy"

    class ToyTableLM(PreTrainedModel, GenerationMixin):
        config_class = ToyConfig
        main_input_name = "input_ids"
        _supports_cache_class = False

        def __init__(self, config):
            super().__init__(config)
            self.anchor = torch.nn.Parameter(torch.zeros(1))     # gives the model a device and dtype
            self.register_buffer("table", torch.from_numpy(np.ascontiguousarray(table)), persistent=False)
            self.post_init()

        def _init_weights(self, module):
            pass

        def get_output_embeddings(self):
            return None

        def forward(self, input_ids=None, attention_mask=None, position_ids=None, use_cache=None, **kwargs):
            last = input_ids[:, -1]
            idx = row_of(last, input_ids.shape[1], rows)
            return CausalLMOutputWithPast(logits=self.table[idx][:, None, :])

    config = ToyConfig(vocab_size=vocab, eos_token_id=eos_token_id, pad_token_id=0, use_cache=False,
                       is_encoder_decoder=False)
    model = ToyTableLM(config).eval()
    model.generation_config.eos_token_id = eos_token_id
    model.generation_config.pad_token_id = 0
    model.generation_config.use_cache = False
    return model
