"""The report's parsing of Yosys output, its bandwidth and latency models, the cycle fit and the sweep cache.

Yosys logs in tests/data/ were captured from /usr/bin/yosys 0.23 on small Amaranth designs (a 4-cell insertion
chain; a block RAM, a LUT RAM and a 18x18 multiplier), so no test here runs Yosys.
"""
from pathlib import Path

import pytest

from beamstream.hw.interface import CoreConfig
from beamstream.report import bandwidth, cycles, render, sweep, yosys
from beamstream.commands import report as report_command

DATA = Path(__file__).parent / "data"


# ---- Yosys output -------------------------------------------------------------------------------------------

def test_stat_of_a_mapped_xc7_netlist():
    r = yosys.resources_from_stat((DATA / "yosys_stat_xc7_chain4.txt").read_text())
    assert (r.lut, r.lutram, r.ff, r.carry, r.bram36, r.dsp, r.other) == (11 + 4 + 136 + 40, 0, 279, 8, 0, 0, {})


def test_stat_counts_bram_dsp_and_lutram_on_xcup():
    r = yosys.resources_from_stat((DATA / "yosys_stat_xcup_mem_dsp.txt").read_text())
    assert (r.lut, r.lutram, r.ff, r.carry, r.bram36, r.dsp) == (19, 8, 36, 5, 1.0, 2)  # RAM32M16 = 8 LUT sites
    assert r.lut_total == 27


def test_zero_lut_netlist_is_refused():
    # A real xc7 netlist with no LUT at all: its figures are not trusted (the yowasp ABC failure looks like this).
    with pytest.raises(yosys.SynthError, match="zero LUTs"):
        yosys.resources_from_stat((DATA / "yosys_stat_xc7_no_luts.txt").read_text())


def test_unmapped_generic_cells_are_refused():
    with pytest.raises(yosys.SynthError, match="generic cells"):
        yosys.resources_from_stat((DATA / "yosys_stat_unmapped.txt").read_text())


def test_stat_without_cells_is_an_error():
    with pytest.raises(yosys.SynthError, match="Number of cells"):
        yosys.resources_from_stat("ERROR: nothing here\n")


def test_ltp_critical_path():
    path = yosys.parse_ltp((DATA / "yosys_ltp_chain4.txt").read_text())
    assert path == yosys.CriticalPath(5, "k3[0]", "o_key[14]")
    with pytest.raises(yosys.SynthError, match="Longest topological path"):
        yosys.parse_ltp("Detected loop at $abc$1\n")


def test_fmax_estimate():
    assert yosys.TIMING["xc7"].fmax_mhz(5) == pytest.approx(1000 / (1.0 + 5 * 0.6))   # 250 MHz
    assert yosys.TIMING["xcup"].fmax_mhz(8) == pytest.approx(1000 / (0.6 + 8 * 0.4))  # 263 MHz
    with pytest.raises(ValueError):
        yosys.TIMING["xc7"].fmax_mhz(-1)


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="family"):
        yosys.synth_resources(Path("x.v"), "top", "xc9")


# ---- bandwidth and latency ----------------------------------------------------------------------------------

FP32_P4 = CoreConfig(lanes=4, k_max=16, fmt="fp32")


def test_step_bytes():
    # 4 rows x (1 header + 8000 data beats) x 16 bytes; 8 results x 8 bytes
    assert bandwidth.step_bytes(FP32_P4, 4, 32000, 8) == bandwidth.StepBytes(4 * 8001 * 16, 64)
    # bf16, 4 lanes: 8-byte beats, ceil(50257 / 4) = 12565 data beats (the last one padded)
    bf16 = CoreConfig(lanes=4, fmt="bf16")
    assert bandwidth.step_bytes(bf16, 4, 50257, 8).to_core == 4 * 12566 * 8


@pytest.mark.parametrize("beams, vocab, k", [(0, 10, 1), (9, 10, 1), (1, 262145, 1), (1, 10, 17), (1, 10, True)])
def test_step_bytes_rejects_bad_steps(beams, vocab, k):
    with pytest.raises(ValueError):
        bandwidth.step_bytes(FP32_P4, beams, vocab, k)


def test_fmax_estimate_is_capped_by_the_dma_path():
    z2, zcu = bandwidth.BOARDS["PYNQ-Z2"], bandwidth.BOARDS["ZCU104"]
    assert bandwidth.fmax_estimate_mhz(z2, 5) == 150.0                 # 250 MHz estimate, capped
    assert bandwidth.fmax_estimate_mhz(z2, None) == 150.0
    assert bandwidth.fmax_estimate_mhz(zcu, 5) == 300.0                # 385 MHz estimate, capped
    assert bandwidth.fmax_estimate_mhz(zcu, 10) == pytest.approx(1000 / 4.6)


def test_the_projected_clock_is_the_one_the_bitstream_is_built_at():
    from beamstream.hw.boards import BOARDS
    assert {b.name: bandwidth.clock_mhz(b, 11) for b in bandwidth.BOARDS.values()} == {
        "PYNQ-Z2": BOARDS["pynq-z2"].clock_mhz, "ZCU104": BOARDS["zcu104"].clock_mhz, "KV260": BOARDS["kv260"].clock_mhz}
    assert bandwidth.BOARDS["PYNQ-Z2"].hp_bits == BOARDS["pynq-z2"].hp_bits == 64


def test_transfer_bound_on_pynq_z2():
    # 128-bit stream at 100 MHz = 1,600 MB/s, but one 64-bit HP port at 150 MHz carries 1,200 MB/s.
    z2 = bandwidth.BOARDS["PYNQ-Z2"]
    nbytes = bandwidth.step_bytes(FP32_P4, 4, 32000, 8)
    p = bandwidth.project(z2, FP32_P4, 32100, nbytes, 100.0)
    assert p.limiter == "HP port"
    assert p.transfer_us == pytest.approx(512064 / 1200 + 64 / 800)   # results: 64-bit stream at 100 MHz
    assert p.compute_us == pytest.approx(321.0)
    assert (p.bound, p.latency_us) == ("transfer", p.transfer_us)


def test_compute_bound_on_zcu104():
    # At 200 MHz the 128-bit stream (3,200 MB/s) is below the 128-bit HP port (5,328 MB/s).
    zcu = bandwidth.BOARDS["ZCU104"]
    nbytes = bandwidth.step_bytes(FP32_P4, 4, 32000, 8)
    p = bandwidth.project(zcu, FP32_P4, 32100, nbytes, 200.0)
    assert p.limiter == "stream"
    assert p.transfer_us == pytest.approx(512064 / 3200 + 64 / 1600)
    assert (p.compute_us, p.bound, p.latency_us) == (pytest.approx(160.5), "compute", pytest.approx(160.5))


def test_board_figures():
    assert bandwidth.BOARDS["PYNQ-Z2"].hp_mb_s == 1200.0
    assert bandwidth.BOARDS["KV260"].hp_mb_s == pytest.approx(16 * 333)


# ---- cycles -------------------------------------------------------------------------------------------------

def test_reference_cycle_counts():
    assert cycles.stream_beats(FP32_P4, 4, 32000) == 4 * 8001
    assert cycles.design_bound(FP32_P4, 4, 32000) == 4 * 8001 + 16 + 64 + 32
    assert cycles.finn_labelselect_cycles(FP32_P4, 4, 32000, 8) == 4 * (8000 + 8)


def test_cycle_fit_recovers_a_known_formula():
    def fake(cfg, b, v):
        return cycles.stream_beats(cfg, b, v) + 3 * b + 10 + 4 * cfg.k_max
    samples = [(cfg, {"beams": b, "vocab": v, "k": 1, "cycles": fake(cfg, b, v)})
               for cfg in (CoreConfig(lanes=1, k_max=4), CoreConfig(lanes=8, k_max=64))
               for b in (1, 4) for v in (17, 5000)]
    m = cycles.fit(samples)
    assert (m.row_overhead, m.tail_base, m.tail_per_k) == pytest.approx((3, 10, 4))
    assert m.max_error == 0
    assert m.predict(FP32_P4, 4, 151936) == fake(FP32_P4, 4, 151936)


def test_cycle_fit_with_one_k_max_keeps_a_flat_tail():
    cfg = CoreConfig()
    samples = [(cfg, {"beams": b, "vocab": v, "k": 8, "cycles": cycles.stream_beats(cfg, b, v) + 2 * b + 50})
               for b in (1, 4) for v in (33, 1000)]
    m = cycles.fit(samples)
    assert (m.row_overhead, m.tail_base, m.tail_per_k) == pytest.approx((2, 50, 0))
    with pytest.raises(ValueError):
        cycles.fit([])


# ---- sweep plan and cache -----------------------------------------------------------------------------------

def test_plan_skips_illegal_builds():
    assert sweep.valid_config(1, 4, "bf16") is None          # a 16-bit beat cannot hold the 32-bit header
    assert len(sweep.all_configs()) == 4 * 5 * 2 - 5
    plan = sweep.make_plan(quick=False, full=False, beams=4, vocabs=[32000], k=8)
    assert [c.k_max for c in plan.chain] == [4, 8, 16, 32, 64]
    assert CoreConfig() in plan.top and len(set(plan.top)) == len(plan.top)
    assert any("P=1 bf16" in n for n in plan.notes)


def _fake_synth(kind, cfg_dict):
    _fake_synth.calls.append((kind, cfg_dict["k_max"]))
    return {"status": "ok", "levels": 3, "resources": {}}


def test_cache_redoes_only_what_changed(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "synth_point", _fake_synth)
    _fake_synth.calls = []
    plan = sweep.Plan(chain=(CoreConfig(lanes=1, k_max=4), CoreConfig(lanes=1, k_max=8)), top=(), simulate=(),
                      beams=4, vocabs=(100,), k=8)
    cache = sweep.Cache(tmp_path)
    first = sweep.run(plan, cache, jobs=1, progress=False)
    assert _fake_synth.calls == [("chain", 8), ("chain", 4)]   # biggest first
    assert [r["cached"] for _, r in first["chain"]] == [False, False]

    _fake_synth.calls = []
    again = sweep.run(plan, cache, jobs=1, progress=False)
    assert _fake_synth.calls == []
    assert [r["cached"] for _, r in again["chain"]] == [True, True]

    # A gateware change invalidates every point; a new configuration only itself.
    monkeypatch.setattr(sweep, "sources_digest", lambda *extra: "changed")
    bigger = sweep.Plan(chain=plan.chain, top=(), simulate=(), beams=4, vocabs=(100,), k=8)
    sweep.run(bigger, cache, jobs=1, progress=False)
    assert sorted(_fake_synth.calls) == [("chain", 4), ("chain", 8)]
    _fake_synth.calls = []
    more = sweep.Plan(chain=(*plan.chain, CoreConfig(lanes=1, k_max=16)), top=(), simulate=(), beams=4,
                      vocabs=(100,), k=8)
    sweep.run(more, cache, jobs=1, progress=False)
    assert _fake_synth.calls == [("chain", 16)]


def test_failures_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "synth_point", lambda kind, cfg: {"status": "missing", "error": "not landed"})
    plan = sweep.Plan(chain=(CoreConfig(lanes=1, k_max=4),), top=(), simulate=(), beams=4, vocabs=(100,), k=8)
    cache = sweep.Cache(tmp_path)
    out = sweep.run(plan, cache, jobs=1, progress=False)
    assert out["chain"][0][1]["status"] == "missing"
    assert list(tmp_path.iterdir()) == []


# ---- output -------------------------------------------------------------------------------------------------

def test_report_says_what_is_missing(tmp_path):
    plan = sweep.make_plan(quick=True, full=False, beams=4, vocabs=[32000], k=8)
    missing = {"status": "missing", "error": "top level not available"}
    data = render.ReportData(plan, [(c, missing) for c in plan.chain], [(c, missing) for c in plan.top], [],
                             None, "no simulated steps", {"numpy": {32000: 123.4}, "torch": {32000: "torch not installed"}})
    written = render.write(data, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "n/a: top level not available" in text and "14,061" in text and "n/a: torch not installed" in text
    assert tmp_path / "latency_vs_v.png" not in written       # no cycles: no projected latency to plot
    assert any("no cycle count" in line for line in render.summary(data))


def test_vocab_argument():
    assert report_command._int_list("32000, 50257") == [32000, 50257]
    for bad in ("", "a,b", "0,5"):
        with pytest.raises(ValueError):
            report_command._int_list(bad)


def test_simulated_rows_are_long_enough_for_the_formula():
    for cfg in (CoreConfig(lanes=1, k_max=4), CoreConfig(lanes=8, k_max=64, fmt="bf16")):
        points = cycles.sample_points(cfg, 4, [32000, 151936])
        assert {b for b, _ in points} == {1, 4}
        assert all(cfg.beats_per_row(v) - 1 >= 256 for _, v in points)
