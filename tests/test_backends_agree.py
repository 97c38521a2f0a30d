"""Real decoding runs on `sim`, on `pynq` through the test-only stand-in, and on `hwmodel`: the same tokens, and
the same (score, beam, token) on every single step, over two core builds."""
import numpy as np
import pytest

import beamstream
from beamstream.backends.hwmodel_backend import HwModelBackend
from beamstream.hw.interface import CoreConfig

pytestmark = pytest.mark.rtl

# The same two builds as test_driver.py, so the suite pays for two Verilator builds in all.
CONFIGS = [CoreConfig(), CoreConfig(lanes=2, k_max=8, beams_max=4, vocab_max=4096, fmt="bf16")]
VOCAB = {CONFIGS[0]: 5003, CONFIGS[1]: 1500}
EOS = 3


def toy_model(vocab: int):
    """A deterministic callable LM: logits depend on the whole prefix, EOS gets likelier as prefixes grow."""
    def fn(prefixes):
        out = np.empty((len(prefixes), vocab), np.float32)
        for i, prefix in enumerate(prefixes):
            rng = np.random.default_rng(hash(tuple(prefix)) & 0xFFFF_FFFF)
            out[i] = rng.normal(0.0, 2.5, vocab)
            out[i, EOS] += 0.4 * len(prefix) - 2.0
        return out
    return fn


class Recording:
    """A backend proxy that keeps every step's result (global and per-row mode)."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.max_k, self.formats, self.config = inner.name, inner.max_k, inner.formats, inner.config
        self.results = []

    def step(self, logits, beam_scores, k):
        result = self.inner.step(logits, beam_scores, k)
        self.results.append(result)
        return result

    def step_rows(self, logits, beam_scores, k):
        result = self.inner.step_rows(logits, beam_scores, k)
        self.results.append(result)
        return result


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: c.slug())
def backends(request):
    from beamstream.backends.driver_backends import PynqBackend, SimBackend
    from beamstream.transports.pynq_standin import PynqStandIn
    cfg = request.param
    sim = SimBackend(cfg)
    stand_in = PynqStandIn(cfg)
    board = PynqBackend(bitstream="bitstreams/pynq-z2/beamstream.bit", pynq=stand_in)
    yield cfg, {"hwmodel": HwModelBackend(cfg), "sim": sim, "pynq": board}
    sim.close()
    stand_in.device.close()


def decode_everywhere(backends, run):
    """run(backend) on each backend; assert identical outputs and identical step-by-step results."""
    outputs, steps = {}, {}
    for name, backend in backends.items():
        recording = Recording(backend)
        outputs[name] = run(recording)
        steps[name] = recording.results
    reference = steps["hwmodel"]
    assert len(reference) > 3
    for name in ("sim", "pynq"):
        assert outputs[name] == outputs["hwmodel"], f"{name} decoded other tokens than hwmodel"
        assert len(steps[name]) == len(reference)
        for n, (got, want) in enumerate(zip(steps[name], reference)):
            assert type(got) is type(want)
            for field, a, b in zip(got._fields, got, want):
                np.testing.assert_array_equal(a, b, err_msg=f"{name} step {n}: {field}")
    return outputs["hwmodel"], steps["hwmodel"]


@pytest.mark.parametrize("num_beams,length_penalty,early_stopping", [(4, 1.0, False), (2, 0.5, True),
                                                                    (3, -1.0, "never")])
def test_beam_search(backends, num_beams, length_penalty, early_stopping):
    cfg, named = backends
    model = toy_model(VOCAB[cfg])

    def run(backend):
        result = beamstream.beam_search(model, [5, 17, 9], num_beams=num_beams, max_new_tokens=12,
                                        length_penalty=length_penalty, early_stopping=early_stopping,
                                        eos_token_id=EOS, num_return_sequences=2, backend=backend)
        return result.sequences, [float(s) for s in result.scores]

    (sequences, _), _ = decode_everywhere(named, run)
    assert all(seq[:3] == [5, 17, 9] for seq in sequences)


def test_greedy(backends):
    cfg, named = backends
    model = toy_model(VOCAB[cfg])
    decode_everywhere(named, lambda backend: beamstream.greedy(model, [1, 2], max_new_tokens=15, eos_token_id=EOS,
                                                               backend=backend).sequences)


def test_sample(backends):
    cfg, named = backends
    model = toy_model(VOCAB[cfg])
    decode_everywhere(named, lambda backend: beamstream.sample(model, [7], max_new_tokens=15, top_k=min(5, cfg.k_max),
                                                               top_p=0.9, temperature=0.8, seed=3, eos_token_id=EOS,
                                                               backend=backend).sequences)


def test_a_sampled_batch_is_one_per_row_step_per_token(backends):
    """Two prompts, beams_max/2 sequences each: every token of every sequence from one transfer."""
    cfg, named = backends
    model = toy_model(VOCAB[cfg])
    n = cfg.beams_max // 2

    def run(backend):
        results = beamstream.sample(model, [[7, 1], [8]], max_new_tokens=12, top_k=min(5, cfg.k_max),
                                    temperature=0.8, repetition_penalty=1.2, num_return_sequences=n, seed=4,
                                    eos_token_id=EOS, backend=backend)
        return [r.sequences for r in results]

    sequences, steps = decode_everywhere(named, run)
    assert all(type(step).__name__ == "RowsResult" for step in steps)
    assert len(steps) == max(len(s) - len(p) for seqs, p in zip(sequences, [[7, 1], [8]]) for s in seqs)
    assert len(steps[0].tokens) == 2 and max(len(step.tokens) for step in steps) == 2 * n
