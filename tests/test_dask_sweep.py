"""The report's sweep on a real Dask LocalCluster of two worker processes (loopback only).

The points are tiny stand-ins for synthesis and simulation (no yosys or Verilator runs), sent to the workers by
value; the simulation point is made to fail on purpose by pointing Verilator's path at a file that is not there,
so the worker's tool check must reject it while the other points go on.
"""
import os
import sys

import pytest

from conftest import require

require("distributed")
import cloudpickle  # noqa: E402 - comes with distributed

from beamstream.hw.interface import CoreConfig  # noqa: E402
from beamstream.report import cluster, render, sweep  # noqa: E402

# The workers are other processes: they get this module's functions by value, not by importing a test file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

CHAIN = tuple(CoreConfig(lanes=1, k_max=k) for k in (4, 8, 16))
PLAN = sweep.Plan(chain=CHAIN, top=(CoreConfig(),), simulate=(CoreConfig(),), beams=4, vocabs=(1000,), k=8)


def fake_synth(kind, cfg_dict):
    # A figure the test can recompute: the pid shows the work ran in a worker process, not in the test.
    return {"status": "ok", "levels": cfg_dict["k_max"] + (100 if kind == "top" else 0), "path": ["a", "b"],
            "resources": {f: {"lut": 10 * cfg_dict["k_max"], "lutram": 0, "ff": 1, "carry": 0, "bram36": 0,
                              "dsp": 0} for f in ("xc7", "xcup")}, "pid": os.getpid()}


def fake_cycles(cfg_dict, beams, vocabs, k):
    raise AssertionError("the tool check must stop this point before it runs")


@pytest.fixture
def fakes(monkeypatch):
    monkeypatch.setattr(sweep, "synth_point", fake_synth)
    monkeypatch.setattr(sweep, "cycles_point", fake_cycles)
    monkeypatch.setattr(sweep, "sources_digest", lambda *extra: "test-digest")


def test_sweep_on_two_worker_processes_with_one_failing_point(tmp_path, fakes):
    cache = sweep.Cache(tmp_path / "cache")
    missing = tmp_path / "no-such-dir" / "verilator"
    tools = {"yosys": sys.executable, "verilator": str(missing)}   # yosys: any executable, the fake never runs it
    out = sweep.run(PLAN, cache, jobs=2, progress=False, tools=tools)

    # Every point is there; the synthesis points ran in worker processes, on the loopback interface.
    assert [c for c, _ in out["chain"]] == list(CHAIN) and len(out["top"]) == 1
    for cfg, res in out["chain"] + out["top"]:
        assert res["status"] == "ok" and not res["cached"]
        assert res["levels"] == cfg.k_max + (100 if res in [r for _, r in out["top"]] else 0)
        assert res["pid"] != os.getpid()
        assert res["worker"].startswith("tcp://127.0.0.1:")
    # The simulation point failed with a message naming the worker and the missing tool.
    (_, failed), = out["sim"]
    assert failed["status"] == "error"
    assert "tcp://127.0.0.1:" in failed["error"] and str(missing) in failed["error"]

    # The report shows the failure and who made each point.
    data = render.ReportData(PLAN, out["chain"], out["top"], out["sim"], None, "no simulated steps", {})
    render.write(data, tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    table = text[text.index("## Points"):]
    assert table.count("| ok |") == len(CHAIN) + 1
    assert "**error**" in table and str(missing) in table
    assert table.count("tcp://127.0.0.1:") == len(CHAIN) + 3   # five worker cells, one in the error message

    # The finished points are in the shared cache (written by the workers and the client); the failure is not.
    assert len(list((tmp_path / "cache").glob("*.json"))) == len(CHAIN) + 1
    again = sweep.run(PLAN, cache, jobs=1, progress=False, tools=tools)
    assert all(r["cached"] and r["worker"].startswith("tcp://127.0.0.1:") for _, r in again["chain"] + again["top"])


def test_tool_check_names_the_tool():
    assert cluster.tool_problem("yosys", sys.executable) is None
    assert "apt-get install yosys" in cluster.tool_problem("yosys", "/nonexistent/yosys")
    assert "/nonexistent/verilator" in cluster.tool_problem("verilator", "/nonexistent/verilator")
    with pytest.raises(ValueError, match="unknown tool"):
        cluster.tool_problem("vivado", None)


def test_unreachable_scheduler_is_a_clear_error(tmp_path, fakes):
    # Port 9 on the loopback interface: nothing listens there.
    with pytest.raises(RuntimeError, match="cannot reach the Dask scheduler"):
        cluster.connect("tcp://127.0.0.1:9", 1, timeout="2s")
