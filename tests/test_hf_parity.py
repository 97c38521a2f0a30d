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


# -- logits processors --------------------------------------------------------------------------------------------
PROCESSORS = [
    dict(repetition_penalty=1.3),
    dict(repetition_penalty=0.7),                       # < 1 raises the scores of seen tokens
    dict(no_repeat_ngram_size=1),
    dict(no_repeat_ngram_size=2),
    dict(no_repeat_ngram_size=3),
    dict(min_new_tokens=6),
    dict(min_length=9),
    dict(bad_words_ids=[[4], [42, 2], [8, 2, 4]]),      # one-token, two-token (ends in EOS), prompt-spanning
    dict(suppress_tokens=[7, 9, 42]),
    dict(repetition_penalty=1.2, no_repeat_ngram_size=2, min_new_tokens=4, bad_words_ids=[[4, 42]],
         suppress_tokens=[9]),
    dict(repetition_penalty=0.8, no_repeat_ngram_size=3, min_length=7, bad_words_ids=[[7]]),
]


def hf_first(model, prompt, nb, eos, new, **kw):
    seqs, scores = hf_generate(model, prompt, num_beams=nb, max_new_tokens=new, eos_token_id=eos, **kw)
    return seqs[0], (scores[0] if scores else None)


@pytest.mark.parametrize("num_beams", range(1, 9))
def test_llama_processors_match_generate(llama, num_beams):
    """Every processor alone and in combination, EOS present or absent: same tokens, scores within 1e-4."""
    changed = 0
    for procs, eos in itertools.product(PROCESSORS, [EOS, None]):
        want, want_score = hf_first(llama, PROMPT, num_beams, eos, 12, **procs)
        res = beamstream.beam_search(llama, PROMPT, num_beams=num_beams, max_new_tokens=12, eos_token_id=eos, **procs)
        case = f"num_beams={num_beams} eos={eos} {procs}"
        assert res.sequences[0] == want, case
        if want_score is not None:
            assert res.scores[0] == pytest.approx(want_score, abs=1e-4), case
        plain, _ = hf_first(llama, PROMPT, num_beams, eos, 12)
        changed += plain != want
        if num_beams == 1:
            assert beamstream.greedy(llama, PROMPT, max_new_tokens=12, eos_token_id=eos, **procs).sequences[0] == want
    assert changed >= len(PROCESSORS)          # the processors did change what generate returns


def test_processors_come_from_the_generation_config(llama):
    """generate's rule: the model's generation_config supplies defaults, explicit arguments override."""
    config = llama.generation_config
    try:
        config.no_repeat_ngram_size, config.repetition_penalty = 2, 1.3
        want, _ = hf_first(llama, PROMPT, 3, EOS, 10)
        assert beamstream.beam_search(llama, PROMPT, num_beams=3, max_new_tokens=10, eos_token_id=EOS).sequences[0] \
            == want
        override, _ = hf_first(llama, PROMPT, 3, EOS, 10, no_repeat_ngram_size=0, repetition_penalty=1.0)
        res = beamstream.beam_search(llama, PROMPT, num_beams=3, max_new_tokens=10, eos_token_id=EOS,
                                     no_repeat_ngram_size=0, repetition_penalty=1.0)
        assert res.sequences[0] == override and override != want
    finally:
        config.no_repeat_ngram_size, config.repetition_penalty = None, None


FIXED_POINT_STEP = 5.7e-4      # docs/numerics.md §5: a step's score vs float64, beam-score rounding included


@pytest.fixture(scope="module", params=["hwmodel", pytest.param("sim", marks=pytest.mark.rtl),
                                        pytest.param("pynq", marks=pytest.mark.rtl)])
def fabric(request):
    """The fabric backends: the bit-exact model, the Verilated RTL, and the PYNQ driver over the stand-in."""
    from beamstream.backends import get_backend
    from beamstream.hw.interface import CoreConfig
    if request.param == "hwmodel":
        yield get_backend("hwmodel")
        return
    if request.param == "sim":
        backend = get_backend("sim")
        yield backend
        backend.close()
        return
    from beamstream.backends.driver_backends import PynqBackend
    from beamstream.transports.pynq_standin import PynqStandIn
    from beamstream.transports.verilated import VerilatedDevice
    device = VerilatedDevice(CoreConfig())
    yield PynqBackend(bitstream="bitstreams/pynq-z2/beamstream.bit", pynq=PynqStandIn(CoreConfig(), device=device))
    device.close()


def test_llama_processors_on_fabric_backends(llama, fabric):
    """The fabric's wider top-K re-ranked after the edits: same tokens as generate, the length-normalised score
    within the fixed-point bound (a step's bound, times the penalty where it scales a score), and the edited steps
    and host-pass fallbacks counted."""
    edited = 0
    for procs, nb in itertools.product(PROCESSORS, [1, 2, 4]):
        want, want_score = hf_first(llama, PROMPT, nb, EOS, 10, **procs)
        res = beamstream.beam_search(llama, PROMPT, num_beams=nb, max_new_tokens=10, eos_token_id=EOS,
                                     backend=fabric, **procs)
        case = f"{fabric.name} num_beams={nb} {procs}"
        assert res.sequences[0] == want, case
        if want_score is not None:
            bound = FIXED_POINT_STEP * max(1.0, procs.get("repetition_penalty", 1.0))
            assert res.scores[0] == pytest.approx(want_score, abs=bound), case
        assert 0 <= res.extra["fallback_steps"] <= res.extra["edited_steps"] <= res.steps
        edited += res.extra["edited_steps"]
    assert edited > 0


# -- batches ------------------------------------------------------------------------------------------------------
BATCH = [PROMPT, [9, 4], [3, 60, 61, 62, 63, 11, 12], [9, 4]]


@pytest.mark.parametrize("num_beams,procs", [(1, {}), (4, {}), (3, dict(no_repeat_ngram_size=2,
                                                                         repetition_penalty=1.2))])
def test_llama_batch_is_one_padded_forward_per_step_and_equals_each_alone(llama, num_beams, procs):
    """Left padding, attention mask and positions: each prompt's result equals generate on that prompt alone."""
    shapes = []
    handle = llama.model.embed_tokens.register_forward_hook(lambda mod, args, out: shapes.append(tuple(args[0].shape)))
    try:
        results = beamstream.beam_search(llama, BATCH, num_beams=num_beams, max_new_tokens=9, eos_token_id=EOS,
                                         **procs)
    finally:
        handle.remove()
    assert shapes[0] == (len(BATCH), max(map(len, BATCH)))            # one forward for the whole batch
    assert all(s[1] == 1 for s in shapes[1:]) and len(shapes) <= 9
    for prompt, res in zip(BATCH, results):
        want, want_score = hf_first(llama, prompt, num_beams, EOS, 9, **procs)
        assert res.sequences[0] == want, prompt
        if want_score is not None:
            assert res.scores[0] == pytest.approx(want_score, abs=1e-4)


# -- the real small Llama: SmolLM2-135M-Instruct through transformers (loaded once per test session) ----------------
@pytest.fixture(scope="session")
def smollm2():
    """The default model through transformers (the reference; load_pretrained() runs it on the NumPy runtime)."""
    from beamstream.models import load_hf_default
    return load_hf_default()


@pytest.mark.parametrize("runtime", ["transformers", "numpy"])
def test_smollm2_batch_with_processors_matches_generate(smollm2, runtime):
    """Two prompts of different lengths in one batch, 4 beams, the bench's processors (no_repeat_ngram_size=3,
    repetition_penalty=1.2), through transformers and through the NumPy runtime (the default): each equals
    generate on that prompt, scores within 1e-4."""
    model, tok = smollm2
    if runtime == "numpy":
        from beamstream.models import load_pretrained
        ours = load_pretrained()[0]
    else:
        ours = model
    prompts = [tok("The capital of France is")["input_ids"], tok("def fibonacci(n):")["input_ids"]]
    procs = dict(no_repeat_ngram_size=3, repetition_penalty=1.2)
    results = beamstream.beam_search(ours, prompts, num_beams=4, max_new_tokens=12, eos_token_id=2, **procs)
    for prompt, res in zip(prompts, results):
        want, want_score = hf_first(model, prompt, 4, model.generation_config.eos_token_id, 12, **procs)
        assert res.sequences[0] == want
        assert res.scores[0] == pytest.approx(want_score, abs=1e-4)


def test_smollm2_greedy_stop_strings_and_min_new_tokens_match_generate(smollm2):
    model, tok = smollm2
    prompt = tok("List three colours:")["input_ids"]
    eos = model.generation_config.eos_token_id
    kw = dict(min_new_tokens=3, bad_words_ids=[tok(" red", add_special_tokens=False)["input_ids"]])
    free, _ = hf_first(model, prompt, 1, eos, 16, **kw)
    stop = tok.decode(free[len(prompt) + 4:len(prompt) + 6])      # a string the free run produces mid-way
    for text in (stop, stop[:-1]):                                 # ending at a token's end, and inside it
        want, _ = hf_first(model, prompt, 1, eos, 16, stop_strings=[text], tokenizer=tok, **kw)
        res = beamstream.greedy(model, prompt, max_new_tokens=16, stop_strings=[text], tokenizer=tok, **kw)
        assert res.sequences[0] == want and len(want) < len(free), repr(text)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_llama_max_time_zero_stops_after_one_token_as_generate(llama, num_beams):
    want, want_score = hf_first(llama, PROMPT, num_beams, None, 10, max_time=0.0)
    res = beamstream.beam_search(llama, PROMPT, num_beams=num_beams, max_new_tokens=10, eos_token_id=None,
                                 max_time=0.0)
    assert res.sequences[0] == want and len(want) == len(PROMPT) + 1
    if want_score is not None:
        assert res.scores[0] == pytest.approx(want_score, abs=1e-4)


def test_stop_strings_need_the_tokenizer(llama):
    with pytest.raises(ValueError, match="tokenizer"):
        beamstream.beam_search(llama, PROMPT, num_beams=2, max_new_tokens=3, stop_strings=["x"])


@pytest.mark.parametrize("backend", ["numpy", "hwmodel"])
def test_toy_table_with_minus_inf_and_processors_matches_generate(backend):
    """-inf logits (a fifth of the table), penalties that lower and raise, bans: same tokens as generate."""
    table = make_table(64, rows=32, seed=4, scale=3.0)
    table[:, 3] += 2.5
    table[np.random.default_rng(1).random(table.shape) < 0.2] = -np.inf
    model, fn = toy_hf_model(table), toy_fn(table)
    bound = 1e-4 if backend == "numpy" else 2 * FIXED_POINT_STEP
    for nb, procs in itertools.product([1, 2, 4, 6], [dict(no_repeat_ngram_size=2), dict(repetition_penalty=1.5),
                                                      dict(repetition_penalty=0.5),
                                                      dict(min_new_tokens=5, bad_words_ids=[[7], [1, 9]],
                                                           suppress_tokens=[11, 12])]):
        seqs, scores = hf_generate(model, [1, 2], num_beams=nb, max_new_tokens=9, eos_token_id=3, use_cache=False,
                                   **procs)
        res = beamstream.beam_search(fn, [1, 2], num_beams=nb, max_new_tokens=9, eos_token_id=3, backend=backend,
                                     **procs)
        assert res.sequences[0] == seqs[0], (nb, procs)
        if scores is not None:
            assert res.scores[0] == pytest.approx(scores[0], abs=bound), (nb, procs)
