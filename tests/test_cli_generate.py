"""`beamstream generate`: the main job on the embedded default model, its options and its errors."""
import os
import subprocess
import sys

import pytest

from beamstream.cli import main
from conftest import require


def run_cli(capsys, *argv):
    code = main(["generate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_unknown_backend_lists_the_known_ones(capsys):
    code, out, err = run_cli(capsys, "Hello", "--backend", "nope")
    assert code == 2 and "known backends: numpy" in err


def test_bad_early_stopping_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "Hello", "--early-stopping", "maybe"])
    assert exc.value.code == 2


def test_greedy_and_sample_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "Hello", "--greedy", "--sample"])


@pytest.fixture(scope="module")
def torch_one_thread():
    torch = require("torch")
    require("transformers")
    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)


@pytest.mark.hf
def test_beam_search_default(capsys, torch_one_thread):
    code, out, err = run_cli(capsys, "The capital of France is", "--max-new-tokens", "6",
                             "--num-return-sequences", "2")
    assert code == 0, err
    assert "backend: numpy" in out and "[1] score -" in out and "[2] score -" in out
    assert out.count("The capital of France is") == 2 and "Paris" in out
    assert "num_beams=4" in out


@pytest.mark.hf
def test_greedy_sample_and_options(capsys, torch_one_thread):
    code, out, _ = run_cli(capsys, "Once upon a time", "--greedy", "--max-new-tokens", "5")
    assert code == 0 and "decoding: greedy" in out
    runs = [run_cli(capsys, "Once upon a time", "--sample", "--seed", "4", "--top-k", "20", "--top-p", "0.9",
                    "--temperature", "0.8", "--max-new-tokens", "5")[1] for _ in range(2)]
    strip = [r.rsplit("backend:", 1)[0] for r in runs]
    assert strip[0] == strip[1] and "decoding: sample" in runs[0]
    code, out, _ = run_cli(capsys, "Hi", "--num-beams", "3", "--length-penalty", "0.5", "--early-stopping", "never",
                           "--max-new-tokens", "4", "--backend", "hwmodel")
    assert code == 0 and "backend: hwmodel" in out and "early_stopping=never" in out


@pytest.mark.hf
def test_bad_values_name_the_argument(capsys, torch_one_thread):
    code, _, err = run_cli(capsys, "Hi", "--num-beams", "0")
    assert code == 2 and "num_beams" in err
    code, _, err = run_cli(capsys, "Hi", "--num-beams", "2", "--num-return-sequences", "3")
    assert code == 2 and "num_return_sequences" in err
    code, _, err = run_cli(capsys, "Hi", "--model", "/nonexistent/folder")
    assert code == 2 and "--model" in err


@pytest.mark.hf
def test_model_folder(capsys, tmp_path, torch_one_thread):
    """--model takes a local folder of any HF causal LM (here a tiny random Llama with SmolLM2's tokenizer)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from beamstream.models import load_pretrained

    _, tokenizer = load_pretrained()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=49152, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, eos_token_id=2, bos_token_id=1)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    code, out, err = run_cli(capsys, "Hello there", "--model", str(tmp_path), "--max-new-tokens", "3")
    assert code == 0, err
    assert f"model: {tmp_path}" in out and "backend: numpy" in out and "Hello there" in out


@pytest.mark.hf
def test_python_dash_m_runs_out_of_the_box(torch_one_thread):
    proc = subprocess.run([sys.executable, "-m", "beamstream", "generate", "The capital of France is",
                           "--max-new-tokens", "4"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "backend: numpy" in proc.stdout and "The capital of France is" in proc.stdout


@pytest.mark.parametrize("argv,match", [
    (["Hi", "--top-k", "5"], "--top-k"),                              # sampling option, beam search by default
    (["Hi", "--greedy", "--num-beams", "3"], "--num-beams"),
    (["Hi", "--greedy", "--temperature", "0.5"], "--temperature"),
    (["Hi", "--sample", "--length-penalty", "2"], "--length-penalty"),
    (["Hi", "--num-beams", "2", "--seed", "1"], "--seed"),
    (["Hi", "--greedy", "--num-return-sequences", "2"], "--num-return-sequences"),
    ([], "no prompt"),
    (["Hi", "  "], "prompt 2 is empty"),
])
def test_options_of_another_mode_are_errors(capsys, argv, match):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and match in err and not out


@pytest.mark.hf
def test_several_prompts_from_arguments_file_and_stdin(capsys, tmp_path, monkeypatch, torch_one_thread):
    path = tmp_path / "prompts.txt"
    path.write_text("The capital of France is\n\nOnce upon a time\n")
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("Water boils at\n"))
    code, out, err = run_cli(capsys, "Hello", "--prompts-file", str(path), "--greedy", "--max-new-tokens", "3")
    assert code == 0, err
    assert "== prompt 1" in out and "== prompt 3" in out and "== prompt 4" not in out
    assert out.index("Hello") < out.index("The capital of France is") < out.index("Once upon a time")
    code, out, err = run_cli(capsys, "--prompts-file", "-", "--greedy", "--max-new-tokens", "3")
    assert code == 0 and "Water boils at" in out and "== prompt" not in out


@pytest.mark.hf
def test_processor_options_and_stop(capsys, torch_one_thread):
    code, out, err = run_cli(capsys, "The capital of France is", "--max-new-tokens", "12", "--repetition-penalty",
                             "1.2", "--no-repeat-ngram-size", "3", "--min-new-tokens", "2", "--bad-words", " Paris",
                             "--backend", "hwmodel")
    assert code == 0, err
    assert "processors: repetition_penalty=1.2, no_repeat_ngram_size=3, min_new_tokens=2" in out
    text = out.split("[1] score")[1]
    assert "re-ranked after the processors" in out and "Paris" not in text.split("backend:")[0]
    free = run_cli(capsys, "Count: one, two,", "--greedy", "--max-new-tokens", "16")[1]
    code, out, err = run_cli(capsys, "Count: one, two,", "--greedy", "--max-new-tokens", "16", "--stop", "four")
    assert code == 0, err
    free_text, text = (o.split("[1] score")[1].split("backend:")[0] for o in (free, out))
    assert "four" in free_text and "four" in text and len(text) < len(free_text) and "stop=['four']" in out


@pytest.mark.hf
def test_do_sample_in_the_generation_config_switches_to_sampling_and_says_why(capsys, torch_one_thread, monkeypatch):
    import beamstream.models
    # only a transformers model has a generation_config (the GGUF runtime has none): the default through it
    loaded = beamstream.models.load_hf_default()
    monkeypatch.setattr(beamstream.models, "load_pretrained", lambda *args, **kwargs: loaded)
    model, _ = loaded
    old = model.generation_config.do_sample
    model.generation_config.do_sample = True
    try:
        code, out, err = run_cli(capsys, "Hi", "--max-new-tokens", "3", "--seed", "2")
        assert code == 0, err
        assert "decoding: sample" in out and "do_sample=True (the model's generation_config)" in out
        code, out, err = run_cli(capsys, "Hi", "--max-new-tokens", "3", "--num-beams", "2")
        assert code == 0 and "beam search (num_beams=2" in out and "(--num-beams)" in out
    finally:
        model.generation_config.do_sample = old
