"""beam_search / greedy against transformers' own generate on deterministic toy models: same tokens, scores
within 1e-4, over num_beams 1-8, length_penalty < 0, 0, > 0, early_stopping True/False/"never", EOS present or
absent, num_return_sequences 1..num_beams."""
import itertools

import numpy as np
import pytest

from conftest import require

torch = require("torch")
transformers = require("transformers")

import beamstream  # noqa: E402
from beamstream.models.toy import make_table, toy_fn, toy_hf_model  # noqa: E402

pytestmark = pytest.mark.hf

PROMPT = [5, 17, 33, 8]
EOS = 2


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """torch's OpenMP threads stall each other on a busy 2-core machine; these models are tiny anyway."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    transformers.utils.logging.set_verbosity_error()
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def llama():
    """A tiny randomly initialised Llama (fixed seed), with sharp logits and an EOS that is often likely."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      bos_token_id=1, eos_token_id=EOS, pad_token_id=0, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(8)
        model.lm_head.weight[EOS] *= 1.6
    return model


def hf_generate(model, prompt, **kw):
    eos = kw.pop("eos_token_id")
    model.generation_config.eos_token_id = eos
    out = model.generate(torch.tensor([prompt]), do_sample=False, eos_token_id=eos, pad_token_id=0,
                         return_dict_in_generate=True, output_scores=True, **kw)
    seqs = []
    eos_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
    for row in out.sequences.tolist():
        gen = row[len(prompt):]
        ends = [i for i, t in enumerate(gen) if t in eos_ids]
        seqs.append(prompt + (gen[:ends[0] + 1] if ends else gen))
    scores = out.sequences_scores.tolist() if getattr(out, "sequences_scores", None) is not None else None
    return seqs, scores


def compare(model, ours_model, prompt, nb, lp, es, eos, nrs, new):
    hf_seqs, hf_scores = hf_generate(model, prompt, num_beams=nb, max_new_tokens=new, length_penalty=lp,
                                     early_stopping=es, num_return_sequences=nrs, eos_token_id=eos)
    res = beamstream.beam_search(ours_model, prompt, num_beams=nb, max_new_tokens=new, length_penalty=lp,
                                 early_stopping=es, eos_token_id=eos, num_return_sequences=nrs)
    case = f"num_beams={nb} length_penalty={lp} early_stopping={es!r} eos={eos} nrs={nrs}"
    assert res.sequences == hf_seqs, case
    if hf_scores is not None:
        np.testing.assert_allclose(res.scores, hf_scores, rtol=0, atol=1e-4, err_msg=case)
    return res


@pytest.mark.parametrize("num_beams", range(1, 9))
def test_llama_beam_search_matches_generate(llama, num_beams):
    ended_at_eos = 0
    for lp, es, eos in itertools.product([-1.0, 0.0, 1.5], [True, False, "never"], [EOS, None]):
        for nrs in sorted({1, num_beams}):
            res = compare(llama, llama, PROMPT, num_beams, lp, es, eos, nrs, new=10)
            ended_at_eos += sum(s[-1] == EOS and eos is not None for s in res.sequences)
    assert ended_at_eos > 0          # the EOS handling was exercised


@pytest.mark.parametrize("num_beams", [2, 3, 5])
def test_llama_every_num_return_sequences(llama, num_beams):
    for nrs in range(1, num_beams + 1):
        compare(llama, llama, [9, 4], num_beams, 1.0, False, EOS, nrs, new=8)


def test_llama_greedy_matches_generate(llama):
    for eos in (EOS, None):
        hf_seqs, _ = hf_generate(llama, PROMPT, num_beams=1, max_new_tokens=12, eos_token_id=eos)
        assert beamstream.greedy(llama, PROMPT, max_new_tokens=12, eos_token_id=eos).sequences == hf_seqs


def test_llama_default_eos_comes_from_generation_config(llama):
    llama.generation_config.eos_token_id = EOS
    a = beamstream.beam_search(llama, PROMPT, num_beams=3, max_new_tokens=10)
    b = beamstream.beam_search(llama, PROMPT, num_beams=3, max_new_tokens=10, eos_token_id=EOS)
    assert a.sequences == b.sequences


def test_hf_adapter_reuses_and_reorders_the_cache(llama):
    """After the prompt, every forward gets exactly one new token per beam (no recomputation)."""
    lengths = []
    handle = llama.model.embed_tokens.register_forward_hook(lambda mod, args, out: lengths.append(tuple(args[0].shape)))
    try:
        res = beamstream.beam_search(llama, PROMPT, num_beams=4, max_new_tokens=6, eos_token_id=[95])
    finally:
        handle.remove()
    assert res.steps == 6 and len(res.sequences[0]) == len(PROMPT) + 6
    assert lengths == [(1, len(PROMPT))] + [(4, 1)] * 5


@pytest.mark.parametrize("eos", [None, 3, [3, 7]])
def test_toy_table_model_matches_generate(eos):
    """The logits table wrapped as a transformers model (no cache) vs the same table as a plain callable."""
    table = make_table(64, rows=32, seed=4, scale=3.0)
    table[:, 3] += 2.5                                           # EOS candidates likely enough to end beams
    table[:, 7] += 2.0
    model = toy_hf_model(table)
    fn = toy_fn(table)
    for nb, lp, es in itertools.product([2, 4, 7], [-0.5, 0.0, 2.0], [True, False, "never"]):
        hf_seqs, hf_scores = hf_generate(model, [1, 2], num_beams=nb, max_new_tokens=9, length_penalty=lp,
                                         early_stopping=es, num_return_sequences=nb, eos_token_id=eos,
                                         use_cache=False)
        res = beamstream.beam_search(fn, [1, 2], num_beams=nb, max_new_tokens=9, length_penalty=lp,
                                     early_stopping=es, eos_token_id=eos, num_return_sequences=nb)
        case = f"num_beams={nb} length_penalty={lp} early_stopping={es!r} eos={eos}"
        assert res.sequences == hf_seqs, case
        np.testing.assert_allclose(res.scores, hf_scores, rtol=0, atol=1e-4, err_msg=case)
