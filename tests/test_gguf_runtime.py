"""The NumPy Llama runtime (beamstream.models.llama_numpy / llama_session) against transformers loading the same
GGUF file: next-token logits at every position with and without the KV cache, batched prompts, in-place beam
reordering, both weight forms, and the refusals. Small random GGUFs (tests/gguf_tiny.py) cover what SmolLM2 does
not: an untied head, linear rope scaling, more KV heads."""
import numpy as np
import pytest

from beamstream.models import default_gguf
from beamstream.models.gguf_file import GGUFError, GGUFFile
from beamstream.models.llama_numpy import PHASES, LlamaModel
from beamstream.models.llama_session import NumpyLlama
from conftest import require

from gguf_tiny import write_tiny_llama
from blas_one_thread import one_blas_thread  # noqa: F401  (autouse)

hf = pytest.mark.hf        # the tests against transformers; the others need neither torch nor transformers

PROMPTS = ["The capital of France is", "def fibonacci(n):\n    if n < 2:", "Once upon a time, in a land far away,",
           "1 + 1 = 2, 2 + 2 =", "Grüße aus Köln! Ça va? 日本語のテキスト"]


@pytest.fixture(scope="module")
def np32():
    return NumpyLlama(LlamaModel(default_gguf(), "float32"), 2)


@pytest.fixture(scope="module")
def np16():
    return NumpyLlama(LlamaModel(default_gguf(), "float16"), 2)


def hf_logits(model, ids):
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


CONTINUATION = ("The city is known for its museums, its food and its long history. Many people visit it every "
                "year, and some of them stay for months. In 1889 a tower was built for a world fair; it still "
                "stands, 330 metres tall, and it is lit every night from dusk until one in the morning.")


@pytest.fixture(scope="module")
def sequences(hf_default):
    """Each prompt + a 64-token continuation: natural text for the first three, random ids (an adversarial
    continuation) for the others. Reference logits from transformers' one full pass over each sequence."""
    model, tokenizer = hf_default
    rng = np.random.default_rng(5)
    natural = tokenizer(" " + CONTINUATION)["input_ids"][:64]
    assert len(natural) == 64
    out = []
    for i, text in enumerate(PROMPTS):
        ids = tokenizer(text)["input_ids"]
        seq = ids + (natural if i < 3 else rng.integers(3, 49152, 64).tolist())
        out.append((len(ids), seq, hf_logits(model, seq)))
    return out


@hf
def test_logits_without_cache_equal_transformers(np32, sequences):
    for _, seq, ref in sequences:
        assert np.abs(np32.logits(seq) - ref).max() < 1e-3


@hf
def test_logits_with_cache_equal_transformers(np32, sequences):
    """All five prompts (different lengths) started as one batch, then every row advanced token by token: each
    row's logits at every position of its continuation equal transformers' full pass."""
    session = np32.session()
    first = session.start_batch([seq[:n] for n, seq, _ in sequences])
    worst = max(np.abs(first[i] - ref[n - 1]).max() for i, (n, _, ref) in enumerate(sequences))
    rows = list(range(len(sequences)))
    for step in range(64):
        out = session.advance(rows, [seq[n + step] for n, seq, _ in sequences])
        worst = max(worst, max(np.abs(out[i] - ref[n + step]).max() for i, (n, _, ref) in enumerate(sequences)))
    assert worst < 1e-3


@hf
def test_float16_weights_stay_close(np16, sequences):
    """Measured here: max |float16 - transformers| ~ 0.03 on SmolLM2's logits (float32 weights: ~6e-5)."""
    worst = max(np.abs(np16.logits(seq) - ref).max() for _, seq, ref in sequences)
    assert worst < 0.1
    print(f"float16 weights: max abs logit difference {worst:.4f}")


@hf
def test_start_batch_rows_equal_single_prompts(np32, sequences, hf_default):
    model, _ = hf_default
    prompts = [seq[:n] for n, seq, _ in sequences]
    session = np32.session()
    rows = session.start_batch(prompts)
    for prompt, row in zip(prompts, rows):
        assert np.abs(row - hf_logits(model, prompt)[-1]).max() < 1e-3
    # then every row continues as usual (row i keeps its own positions and padding)
    nxt = [3 + i for i in range(len(prompts))]
    step = session.advance(list(range(len(prompts)))[::-1], nxt)
    for i, parent in enumerate(range(len(prompts) - 1, -1, -1)):
        assert np.abs(step[i] - hf_logits(model, prompts[parent] + [nxt[i]])[-1]).max() < 1e-3


@hf
def test_beam_reorder_in_place_equals_recomputation(np32, hf_default):
    """Random parents (duplicates, swaps, cycles, fewer and more rows) on a session that must grow once; every
    row's logits equal transformers' full pass over that row's sequence."""
    model, tokenizer = hf_default
    rng = np.random.default_rng(11)
    prompt = tokenizer("The best way to learn")["input_ids"]
    session = np32.session(max_rows=3, max_length=len(prompt) + 3)      # grows past both
    session.start(prompt)
    seqs = [prompt]
    plans = [[0, 0, 0], [1, 0, 2], [2, 0, 1], [1, 1, 0, 2, 3], [4, 3, 2, 1, 0], [0, 2]]
    for parents in plans:
        parents = [p % len(seqs) for p in parents]
        toks = rng.integers(3, 49152, len(parents)).tolist()
        out = session.advance(parents, toks)
        seqs = [seqs[p] + [t] for p, t in zip(parents, toks)]
        for row, seq in zip(out, seqs):
            assert np.abs(row - hf_logits(model, seq)[-1]).max() < 1e-3
    assert session.capacity[0] >= 5 and session.capacity[1] >= len(prompt) + 6


@hf
@pytest.mark.parametrize("kw", [dict(tied=False, kv_heads=2), dict(tied=True, kv_heads=4),
                                dict(rope_linear=2.0, kv_heads=1)])
def test_tiny_random_gguf_equals_transformers(tmp_path, kw):
    require("torch")
    transformers = require("transformers")
    AutoModelForCausalLM, LlamaForCausalLM = transformers.AutoModelForCausalLM, transformers.LlamaForCausalLM

    write_tiny_llama(tmp_path / "tiny.gguf", **kw)
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file="tiny.gguf").eval()
    if kw.get("rope_linear"):     # transformers' GGUF loader ignores rope scaling: give it the factor by hand
        cfg = hf.config
        cfg.rope_parameters = {"rope_type": "linear", "factor": kw["rope_linear"], "rope_theta": 5000.0}
        scaled = LlamaForCausalLM(cfg).eval()
        scaled.load_state_dict(hf.state_dict())
        hf = scaled
    ours = NumpyLlama(LlamaModel(tmp_path / "tiny.gguf", "float32"))
    ids = np.random.default_rng(2).integers(0, 64, 50).tolist()
    ref = hf_logits(hf, ids)
    assert np.abs(ours.logits(ids) - ref).max() < 1e-4
    session = ours.session()
    got = [session.start(ids[:5])[0]] + [session.advance([0], [t])[0] for t in ids[5:]]
    assert np.abs(np.array(got) - ref[4:]).max() < 1e-4


def test_file_reader_equals_gguf_reader(monkeypatch):
    """With a first read far shorter than the header (1.8 MB), so the reader grows it 11 times."""
    import gguf

    from beamstream.models import gguf_file

    monkeypatch.setattr(gguf_file, "FIRST_READ", 1000)
    path = default_gguf()
    ours, ref = GGUFFile(path), gguf.GGUFReader(path)
    for key, field in ref.fields.items():
        if key.startswith("GGUF."):
            continue
        mine = ours.metadata[key]
        assert (mine.tolist() if isinstance(mine, np.ndarray) else mine) == field.contents(), key
    assert len(ours.tensors) == len(ref.tensors)
    for t in ref.tensors[:6]:
        info = ours.tensors[t.name]
        assert info.shape == tuple(reversed(t.shape.tolist())) and info.type_id == t.tensor_type
        assert np.array_equal(ours.read(t.name).ravel(), gguf.quants.dequantize(t.data, t.tensor_type).ravel())


def test_refusals(tmp_path):
    import gguf

    (tmp_path / "not.gguf").write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(GGUFError, match="not a GGUF file"):
        LlamaModel(tmp_path / "not.gguf")
    (tmp_path / "short.gguf").write_bytes(b"GGUF\x03\x00\x00\x00\x05")
    with pytest.raises(GGUFError, match="truncated"):
        LlamaModel(tmp_path / "short.gguf")
    write_tiny_llama(tmp_path / "gpt2.gguf", arch="gpt2")
    with pytest.raises(GGUFError, match="architecture 'gpt2'"):
        LlamaModel(tmp_path / "gpt2.gguf")
    write_tiny_llama(tmp_path / "q81.gguf", ffn=64, down_type=gguf.GGMLQuantizationType.Q8_1)
    with pytest.raises(GGUFError, match="Q8_1"):
        LlamaModel(tmp_path / "q81.gguf")
    write_tiny_llama(tmp_path / "ok.gguf", context=16)
    model = NumpyLlama(LlamaModel(tmp_path / "ok.gguf"))
    with pytest.raises(ValueError, match="weights must be"):
        LlamaModel(tmp_path / "ok.gguf", "int4")
    with pytest.raises(ValueError, match="empty"):
        model.session().start([])
    with pytest.raises(ValueError, match="context length"):
        model.session().start(list(range(17)))
    with pytest.raises(ValueError, match="not a token id"):
        model.session().start([64])
    session = model.session()
    session.start(list(range(16)))
    with pytest.raises(ValueError, match="context length"):
        session.advance([0], [1])
    with pytest.raises(ValueError, match="parent row 1"):
        session.advance([1], [1])


class Recorder:
    def __init__(self):
        self.names = []

    def phase(self, name):
        import contextlib

        self.names.append(name)
        return contextlib.nullcontext()


def test_profiler_sees_every_phase(tmp_path):
    write_tiny_llama(tmp_path / "tiny.gguf")
    model = NumpyLlama(LlamaModel(tmp_path / "tiny.gguf"))
    rec = Recorder()
    session = model.session(profiler=rec)
    plain = model.session()
    a = session.start([1, 2, 3])
    assert np.array_equal(a, plain.start([1, 2, 3]))
    assert np.array_equal(session.advance([0, 0], [4, 5]), plain.advance([0, 0], [4, 5]))
    assert set(rec.names) == set(PHASES) and rec.names.count("cache_reorder") == 1
    assert model.kv_bytes_per_row_token == 2 * 2 * 2 * 8 * 4          # layers * (k, v) * kv heads * head_dim * 4


def test_float16_widening_is_exact():
    """The bit-level float16 -> float32 widening equals NumPy's cast on every finite float16 value."""
    from beamstream.models.llama_numpy import _Buffers

    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    finite = every[np.isfinite(every)].reshape(-1, 16)      # 63488 values incl. zeros, subnormals, +-65504
    wide = LlamaModel._wide(_Buffers(), "w", finite)
    assert wide.dtype == np.float32
    assert np.array_equal(wide.view(np.uint32), finite.astype(np.float32).view(np.uint32))


def test_blas_threads_are_set_at_run_time():
    from beamstream.models.blas_threads import blas_threads, set_blas_threads

    assert blas_threads() == 1                      # the module fixture's setting, read back from OpenBLAS
    assert set_blas_threads(2) and blas_threads() == 2
    set_blas_threads(1)
    with pytest.raises(ValueError, match="positive int"):
        set_blas_threads(0)
