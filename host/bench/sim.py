"""`bench sim`: logits per second through the Verilated RTL as a device, beside the cocotb path for the same step.

One step of V = 50257, B = 4, K = 8 (P = 4, fp32) on the default build (K_MAX = 16) and on the build sized for this
step (K_MAX = 8, what num_beams <= 4 needs): the model evaluates every cell of the top-K chains every cycle, so its
speed depends on K_MAX. The device rate is whole `sim` backend steps (packing, the C++ clock loop, the register
checks, unpacking); the cocotb rate is the same step on the default build streamed by cocotbext-axi with Python in
every cycle (sim/tb_rate.py). Target: >= 5 M logits/s for the device.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from beamstream.hw.interface import CoreConfig
from beamstream.hwmodel.core import scores_to_float, step_fixed

VOCAB, BEAMS, K = 50257, 4, 8
TARGET = 5e6  # logits/s
SEED = 5


def make_step(seed: int = SEED):
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 4.0, (BEAMS, VOCAB)).astype(np.float32),
            -rng.exponential(4.0, BEAMS).astype(np.float32))


def device_rate(cfg: CoreConfig, repeats: int) -> tuple[float, float, int]:
    """(logits/s in wall time, logits/s in this process's CPU time, CYCLES of the step) of the `sim` backend on one
    step (the median of `repeats` steps), after checking it against the hwmodel. On a shared machine the CPU-time
    rate is what the build can do; the wall-time rate also counts the time other processes held the cores."""
    from beamstream.backends.driver_backends import SimBackend

    backend = SimBackend(cfg)
    try:
        logits, scores = make_step()
        got = backend.step(logits, scores, K)
        want = step_fixed(logits, scores, K, cfg)
        if not (np.array_equal(got.tokens, want[2]) and np.array_equal(got.beams, want[1])
                and np.array_equal(got.scores, scores_to_float(want[0], cfg))):
            raise AssertionError("sim backend differs from the hwmodel on the bench step")
        walls, cpus = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            backend.step(logits, scores, K)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu_start)
        # The median step: one step held up by another process does not move it.
        return BEAMS * VOCAB / np.median(walls), BEAMS * VOCAB / np.median(cpus), backend.last_cycles
    finally:
        backend.close()


def cocotb_rate(cfg: CoreConfig) -> float:
    """logits/s of the same step on the cocotb path (one run: it is slow)."""
    from beamstream.hw.top import TOP_NAME, BeamstreamTop
    from beamstream.sim import runner

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rate.json"
        job = {"config": cfg.to_dict(), "vocab": VOCAB, "beams": BEAMS, "k": K, "seed": SEED}
        runner.run(lambda: BeamstreamTop(cfg), TOP_NAME, cfg.digest(), "beamstream.sim.tb_rate",
                   extra_env={"BEAMSTREAM_RATE": json.dumps(job), "BEAMSTREAM_RATE_OUT": str(out)})
        timing = json.loads(out.read_text())
    return timing["logits"] / timing["seconds"]


def run(args):
    repeats = 3 if getattr(args, "quick", False) else 10
    default = CoreConfig()
    print(f"   step V={VOCAB} B={BEAMS} K={K}", flush=True)
    rates = {}
    for cfg in (default, CoreConfig(k_max=K)):
        try:
            rate, cpu_rate, cycles = device_rate(cfg, repeats)
        except RuntimeError as exc:
            print(f"   sim device {cfg.slug()}: unavailable: {str(exc).splitlines()[0]}")
            continue
        rates[cfg] = rate
        print(f"   sim device, build {cfg.slug()} (K_MAX={cfg.k_max}), {cycles} cycles/step:", flush=True)
        for label, r in (("wall time", rate), ("CPU time ", cpu_rate)):
            verdict = "meets" if r >= TARGET else "MISSES"
            print(f"     {label}: {r / 1e6:5.2f} M logits/s, {r / (BEAMS * VOCAB) * cycles / 1e6:.2f} M simulated "
                  f"cycles/s ({verdict} the {TARGET / 1e6:.0f} M target)", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"   load average {load:.1f} on {os.cpu_count()} CPUs", flush=True)
    if default not in rates:
        return
    reference = cocotb_rate(default)
    print(f"   cocotb path (cocotbext-axi), build {default.slug()}: {reference / 1e6:7.3f} M logits/s")
    print(f"   ratio sim device / cocotb, same build:  {rates[default] / reference:7.0f}x")
