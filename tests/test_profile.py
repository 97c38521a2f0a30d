"""`beamstream profile`: the token split's accounting, the board projection's arithmetic, the wire-format
comparison on logits whose answer is known, memory figures, and the command's output. Everything here runs on
tiny models in well under a second each."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from beamstream import beam_search, get_backend
from beamstream.commands import profile as profile_command
from beamstream.cli import main as cli_main
from beamstream.models import CallableModel
from beamstream.profile import memory, offload, run as profile_run, token, wire
from beamstream.profile.phases import COLUMNS, PHASES
from beamstream.profile.synthetic import TINY, SyntheticLlama
from beamstream.report import bandwidth


# ---- the split: an exact check with a clock that only the model and the backend move ------------------------

class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


# seconds each phase costs per advance call (attn_* once per layer: 2 layers)
PHASE_COST = {"embedding": 1e-4, "attn_proj": 2e-4, "attn_scores": 3e-4, "attn_weighted_sum": 4e-4, "mlp": 5e-4,
              "head": 6e-4}
OUTSIDE = 7e-5      # forward time outside every phase
REORDER = 8e-5      # per cache reorder
STEP = 9e-4
LAYERS = 2


class ClockedModel:
    """Logits that favour token (length * 7) mod V; each phase moves the fake clock by its known cost."""
    vocab_size = 41
    eos_token_id = None

    def __init__(self, clock):
        self.clock = clock
        self.reorders = 0

    def session(self, profiler=None):
        return ClockedSession(self, profiler)


class ClockedSession:
    def __init__(self, model, profiler):
        self.m, self.prof, self.len, self.rows = model, profiler, 0, 1

    def _logits(self, n):
        x = np.linspace(0.0, -4.0, self.m.vocab_size, dtype=np.float32)
        out = np.tile(x, (n, 1))
        out[:, (self.len * 7) % self.m.vocab_size] = 2.0
        out += np.arange(n, dtype=np.float32)[:, None] * 0.01
        return out

    def start(self, prompt):
        self.len = len(prompt)
        return self._logits(1)

    def advance(self, parents, tokens):
        c = self.m.clock
        if len(parents) != self.rows or list(parents) != list(range(self.rows)):
            with self.prof.phase("cache_reorder"):
                c.t += REORDER
            self.m.reorders += 1
        self.rows = len(parents)
        c.t += OUTSIDE
        for name in ("embedding",):
            with self.prof.phase(name):
                c.t += PHASE_COST[name]
        for _ in range(LAYERS):
            for name in ("attn_proj", "attn_scores", "attn_weighted_sum", "mlp"):
                with self.prof.phase(name):
                    c.t += PHASE_COST[name]
        with self.prof.phase("head"):
            c.t += PHASE_COST["head"]
        self.len += 1
        return self._logits(self.rows)


class ClockedBackend:
    name = "clocked-numpy"
    max_k = None
    formats = ("fp32",)

    def __init__(self, clock):
        self.clock, self.inner = clock, get_backend("numpy")

    def step(self, logits, beam_scores, k):
        self.clock.t += STEP
        return self.inner.step(logits, beam_scores, k)


@pytest.mark.parametrize("beams", [1, 3])
def test_split_attributes_every_part_exactly(beams):
    clock = FakeClock()
    model = ClockedModel(clock)
    split = token.measure(model, [1, 2, 3], beams, 6, ClockedBackend(clock), clock=clock)
    assert split.tokens == 5 == len(split.per_token) and split.phased and split.beams == beams
    assert split.context == 3
    per_layer = {"attn_proj", "attn_scores", "attn_weighted_sum", "mlp"}
    model_cost = sum(PHASE_COST.values()) + (LAYERS - 1) * sum(PHASE_COST[n] for n in per_layer) + OUTSIDE
    for tok in split.per_token:
        for name, cost in PHASE_COST.items():
            assert tok[name] == pytest.approx(cost * (LAYERS if name in per_layer else 1), rel=1e-9)
        assert tok["model_other"] == pytest.approx(OUTSIDE, rel=1e-9)
        assert tok["step"] == pytest.approx(STEP, rel=1e-9)
        assert tok["decoder"] == 0                      # the decoder itself takes no fake time
    # Each reorder lands in the token whose forward made it (the first advance widens 1 -> B rows).
    assert sum(t["cache_reorder"] for t in split.per_token) == pytest.approx(REORDER * model.reorders, abs=1e-15)
    assert model.reorders >= (1 if beams > 1 else 0)
    # The reported split is the median token's, and its columns tile its wall time.
    assert split.seconds in split.per_token
    assert split.total == pytest.approx(model_cost + STEP + split.seconds["cache_reorder"], rel=1e-9)
    assert split.wall == pytest.approx(split.total, rel=1e-9)


def test_the_reported_token_is_the_median_one():
    """A token whose step was held up (another process on the core) does not move the reported split."""
    clock = FakeClock()
    backend = ClockedBackend(clock)
    steps = iter([0, 0, 0.05, 0, 0, 0])                 # the third generated token's step waits 50 ms
    inner = backend.step
    backend.step = lambda *a: (setattr(clock, "t", clock.t + next(steps)), inner(*a))[1]
    split = token.measure(ClockedModel(clock), [1, 2, 3], 1, 6, backend, clock=clock)
    assert max(t["step"] for t in split.per_token) == pytest.approx(STEP + 0.05)
    assert split.seconds["step"] == pytest.approx(STEP)


def test_split_adds_up_to_the_measured_token_on_a_real_model():
    """Real clock, the tiny synthetic Llama: the columns tile the measured window (to rounding), none is
    negative, and the phases do not claim more than the forward took."""
    model = SyntheticLlama(TINY, seed=3)
    split = token.measure(model, list(range(20)), 4, 5, "numpy")
    assert set(split.seconds) == set(COLUMNS)
    assert all(v >= 0 for v in split.seconds.values())
    assert split.total == pytest.approx(split.wall, rel=1e-6)           # stated tolerance: rounding only
    assert split.seconds["step"] > 0 and split.seconds["mlp"] > 0 and split.seconds["decoder"] > 0
    assert (split.vocab, split.k, split.tokens) == (TINY.vocab, 8, 4)


def test_split_on_the_numpy_runtime(tmp_path):
    """The real runtime (a tiny random GGUF): every phase it reports lands in its column, the columns tile the
    window, and the memory facts agree with the runtime's own KV figure."""
    pytest.importorskip("gguf")
    sys.path.insert(0, str(Path(__file__).parent))
    from gguf_tiny import write_tiny_llama
    from beamstream.models.llama_numpy import LlamaModel
    from beamstream.models.llama_session import NumpyLlama

    model = NumpyLlama(LlamaModel(write_tiny_llama(tmp_path / "tiny.gguf", vocab=64, context=64)))
    split = token.measure(model, list(range(1, 17)), 4, 5, "numpy")
    assert split.phased and split.vocab == 64
    for col in ("embedding", "attn_proj", "attn_scores", "attn_weighted_sum", "mlp", "head", "step", "decoder"):
        assert split.seconds[col] > 0, col
    assert split.total == pytest.approx(split.wall, rel=1e-6)
    facts = memory.facts_of(model)
    assert facts.kv_bytes_per_token_per_beam == model.kv_bytes_per_row_token
    assert facts.weight_bytes == model.weight_bytes and (facts.layers, facts.vocab) == (2, 64)


def test_a_model_without_phases_is_all_model_other():
    calls = []

    def fn(prefixes):
        calls.append(len(prefixes))
        return np.tile(np.linspace(0, -3, 17, dtype=np.float32), (len(prefixes), 1))

    split = token.measure(CallableModel(fn), [1, 2], 2, 4, "numpy")
    assert not split.phased
    assert all(split.seconds[c] == 0 for c in ("embedding", "attn_proj", "mlp", "head"))
    assert split.seconds["model_other"] > 0


def test_measure_rejects_too_few_tokens():
    with pytest.raises(ValueError, match="new_tokens"):
        token.measure(SyntheticLlama(TINY), [1], 1, 1)


# ---- the synthetic model: its KV cache gives the logits of recomputation ---------------------------------------

def test_synthetic_cache_and_reorder_match_recomputation():
    m = SyntheticLlama(TINY, seed=1)
    s = m.session()
    s.start([5, 6, 7])
    s.advance([0, 0, 0], [1, 2, 3])
    got = s.advance([2, 0, 2], [9, 10, 11])                  # reorder: rows continue rows 2, 0, 2
    for row, prefix in enumerate(([5, 6, 7, 3, 9], [5, 6, 7, 1, 10], [5, 6, 7, 3, 11])):
        ref = m.session().start(prefix)[0]
        np.testing.assert_allclose(got[row], ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="token ids"):
        m.session().start([TINY.vocab])


# ---- the board projection: against a hand computation -------------------------------------------------------

def test_projection_without_a_report_by_hand():
    # B=4, V=49,152, k=8. fp32 on 4 lanes: 1 + 12,288 beats per row of 16 bytes; the bound of docs/interface.md §5:
    # 4 B + 4 K_MAX + 32 cycles more. The clocks are the ones the bitstreams are built at: PYNQ-Z2 100 MHz,
    # ZCU104 200 MHz (beamstream.hw.boards).
    z2 = bandwidth.BOARDS["PYNQ-Z2"]
    p = offload.project_step(z2, "fp32", 4, 49152, 8, offload.NO_REPORT)
    assert p.clock_mhz == 100.0
    assert p.compute_us == pytest.approx((4 * 12289 + 16 + 64 + 32) / 100.0)
    # in: the 64-bit HP port (1,200 MB/s) is below the 128-bit stream (1,600); out: 8-byte results on the 64-bit
    # stream at 100 MHz (800 MB/s)
    assert p.transfer_us == pytest.approx(4 * 12289 * 16 / 1200 + 64 / 800)
    assert (p.bound, p.latency_us) == ("transfer", pytest.approx(655.49333, rel=1e-6))
    # bf16 on 8 lanes on the ZCU104 at 200 MHz: 1 + 6,144 beats; the stream (3,200 MB/s) limits input, the
    # results leave at 1,600 MB/s
    zcu = bandwidth.BOARDS["ZCU104"]
    q = offload.project_step(zcu, "bf16", 4, 49152, 8, offload.NO_REPORT)
    assert q.compute_us == pytest.approx((4 * 6145 + 112) / 200.0)
    assert q.transfer_us == pytest.approx(4 * 6145 * 16 / 3200 + 64 / 1600)
    assert q.bound == "compute"


def test_projection_from_a_report_and_the_token_on_fabric(tmp_path):
    # A results.json with one top level at 11 LUT levels and simulated steps of cycles = beats + 2 B + 40.
    cfg = offload.wire_config("bf16", 8)
    sims = [{"beams": b, "vocab": v, "k": 8, "cycles": b * cfg.beats_per_row(v) + 2 * b + 40}
            for b in (1, 4) for v in (3000, 49152)]
    results = {"top": [{"status": "ok", "levels": 9, "slug": "a"}, {"status": "ok", "levels": 11, "slug": "b"}],
               "sim": [{"status": "ok", "config": cfg.to_dict(), "cycles": sims}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    basis = offload.basis_from_report(path)
    assert basis.levels == 11 and "11 LUT levels" in basis.note
    zcu = bandwidth.BOARDS["ZCU104"]
    p = offload.project_step(zcu, "bf16", 4, 49152, 8, basis)
    clock = 1000 / (0.6 + 11 * 0.4)                                   # 200 MHz, under the 300 MHz cap
    assert p.clock_mhz == pytest.approx(clock)
    assert p.compute_us == pytest.approx((4 * 6145 + 8 + 40) / clock)
    assert p.latency_us == pytest.approx(max(p.compute_us, 4 * 6145 * 16 / (16 * clock) + 64 / (8 * clock)))

    f = offload.FabricToken("ZCU104", "bf16", token_s=0.100, step_s=0.004, board_step_s=p.latency_us * 1e-6,
                            pack_s=0.0005, bound=p.bound)
    assert f.fabric_token_s == pytest.approx(0.100 - 0.004 + 0.0005 + p.latency_us * 1e-6)
    assert f.speedup == pytest.approx(0.100 / f.fabric_token_s)
    assert f.amdahl == pytest.approx(0.100 / 0.096)


def test_wire_config_follows_k():
    assert offload.wire_config("fp32", 8).k_max == 16 and offload.wire_config("fp32", 8).lanes == 4
    assert offload.wire_config("fp16", 24).k_max == 32 and offload.wire_config("fp16", 24).lanes == 8
    with pytest.raises(ValueError):
        offload.wire_config("int8", 4)
    with pytest.raises(ValueError):
        offload.wire_config("fp32", 65)


# ---- wire formats: a decode whose answer is known ----------------------------------------------------------

V = 50
FLIP_AT = 2   # generated token index where bf16 rounding turns a near-tie into a tie


def near_tie_model(calls):
    """Token (len * 7) mod V leads by far, except after FLIP_AT generated tokens of a 3-token prompt: then
    tokens 10 and 11 lead at 10.0 and 10.02. bf16 (8 significant bits, steps of 1/16 at 8..16) rounds both to
    10.0, and the tie goes to the smaller token (10); fp16 (steps of 1/128) and fp32 keep 11 ahead."""
    def fn(prefixes):
        calls.append(len(prefixes))
        out = np.tile(np.linspace(0.0, -5.0, V, dtype=np.float32), (len(prefixes), 1))
        for i, p in enumerate(prefixes):
            out[i, (len(p) * 7) % V] = 3.0
            if len(p) == 3 + FLIP_AT:
                out[i, 10], out[i, 11] = 10.0, 10.02
        return out
    return CallableModel(fn)


@pytest.mark.parametrize("beams", [1, 4])
def test_bf16_flips_a_known_near_tie(beams):
    calls = []
    res = wire.compare_prompt(near_tie_model(calls), [1, 2, 3], beams, 6)
    assert res["float"][FLIP_AT] == 11
    assert res["fp32"]["equal"] and res["fp16"]["equal"]
    assert res["bf16"]["equal"] is False and res["bf16"]["first_diff"] == FLIP_AT
    assert res["bf16"]["tokens"][FLIP_AT] == 10
    # The decodes the comparison replays are the decodes on hwmodel run directly on the model.
    for fmt in ("fp32", "bf16", "fp16"):
        direct = beam_search(near_tie_model([]), [1, 2, 3], num_beams=beams, max_new_tokens=6,
                             backend=get_backend("hwmodel", config=offload.wire_config(fmt, 2 * beams if beams > 1
                                                                                          else 1)))
        assert res[fmt]["tokens"] == direct.new_tokens[0]
    if beams == 1:      # greedy: fp32 and fp16 never leave the float decode's path, so no forward is recomputed
        assert res["fp32"]["forwards"] == 0 and res["fp16"]["forwards"] == 0 and res["bf16"]["forwards"] > 0


def test_first_difference():
    assert wire.first_difference([1, 2, 3], [1, 2, 3]) is None
    assert wire.first_difference([1, 2, 3], [1, 5, 3]) == 1
    assert wire.first_difference([1, 2], [1, 2, 9]) == 2


def test_prompt_set_is_varied_and_large_enough():
    texts = profile_run.prompt_texts()
    assert len(texts) >= 50 and len(set(texts)) == len(texts)
    assert any(not t.isascii() for t in texts) and any("(" in t for t in texts) and any(c.isdigit() for t in texts
                                                                                        for c in t)


# ---- memory -------------------------------------------------------------------------------------------------

def test_memory_by_hand():
    m = SyntheticLlama(TINY)
    facts = memory.facts_of(m)
    d, hd, kvh, ff, v, layers = 32, 8, 2, 48, 97, 2
    per_layer = d * d + 2 * d * kvh * hd + d * d + 3 * d * ff + 2 * d
    assert facts.weight_bytes == 4 * (v * d + layers * per_layer + d)
    assert facts.kv_bytes_per_token_per_beam == 2 * layers * kvh * hd * 4
    row = memory.memory_row(facts, 4, 100, {"bf16": offload.wire_config("bf16", 8)})
    assert row["kv_total"] == 4 * 100 * 256 and row["logits"] == 4 * 97 * 4
    assert row["wire_bf16"] == 4 * (1 + 13) * 16       # 97 tokens on 8 lanes: 13 data beats and a header


# ---- the command --------------------------------------------------------------------------------------------

def test_profile_command_writes_table_json_and_plots(tmp_path, capsys):
    out = tmp_path / "p"
    rc = cli_main(["profile", "-o", str(out), "--model", "synthetic-tiny", "--quick", "--beams", "1,4",
                   "--contexts", "8", "--tokens", "3", "--no-answers", "--jobs", "1"])
    assert rc == 0
    text = (out / "profile.md").read_text()
    assert "Time per generated token" in text and "Amdahl bound" in text and "ZCU104 = KV260" in text
    data = json.loads((out / "results.json").read_text())
    assert [(s["beams"], s["context"]) for s in data["splits"]] == [(1, 8), (4, 8)]
    assert len(data["fabric"]) == 2 * 3 * 3
    assert (out / "token_split.png").stat().st_size > 0 and (out / "step_share.png").stat().st_size > 0
    assert data["machine"]["blas_threads"] == 1


def test_profile_without_matplotlib_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc = cli_main(["profile", "-o", str(tmp_path), "--model", "synthetic-tiny", "--beams", "1", "--contexts", "8",
                   "--tokens", "2", "--no-answers", "--jobs", "1"])
    assert rc == 0
    assert "Plots skipped: matplotlib is not installed" in (tmp_path / "profile.md").read_text()
    assert not (tmp_path / "token_split.png").exists()


def test_synthetic_models_give_no_answers(tmp_path):
    out = profile_run.wire_point("synthetic-tiny", "Hello", 2, 3)
    assert out["status"] == "missing" and "random weights" in out["error"]
    rc = cli_main(["profile", "-o", str(tmp_path), "--model", "synthetic-tiny", "--beams", "1", "--contexts", "8",
                   "--tokens", "2", "--jobs", "1"])
    assert rc == 0 and "skipped: a synthetic model" in (tmp_path / "profile.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--beams", "9"], "at most 8 beams"), (["--contexts", "0"], "positive"), (["--tokens", "1"], ">= 2"),
    (["--report", "/nonexistent/results.json"], "no such file"), (["--prompts", "0"], ">= 1")])
def test_profile_rejects_bad_arguments(argv, message, tmp_path, capsys):
    rc = cli_main(["profile", "-o", str(tmp_path), "--model", "synthetic-tiny", "--no-answers", *argv])
    assert rc == 2 and message in capsys.readouterr().err


def test_phase_names_are_the_runtimes():
    assert PHASES == ("embedding", "attn_proj", "attn_scores", "attn_weighted_sum", "mlp", "head", "cache_reorder")
    assert profile_command._ints("1, 4") == (1, 4)
