"""`bench sim`: logits per second through the Verilated RTL as a device, beside the cocotb path for the same step.

One step of V = 50257, B = 4, K = 8 (P = 4, fp32) on the default build (K_MAX = 16) and on the build sized for this
step (K_MAX = 8, what num_beams <= 4 needs): the model evaluates every cell of the top-K chains every cycle, so its
speed depends on K_MAX. The device rate is whole `sim` backend steps (packing, the C++ clock loop, the register
checks, unpacking); the cocotb rate is the same step on the default build streamed by cocotbext-axi with Python in
every cycle (sim/tb_rate.py). Target: >= 5 M logits/s for the device.

Seconds move with the machine and its load; instructions do not. `instructions_per_cycle` counts the user-space
instructions of N steps in a child process, less those of a child that only starts up (the device opened, one
step run), per simulated cycle: with `perf stat -e instructions:u` where the kernel lets perf count, otherwise
with valgrind's callgrind (its `Ir` total: the same instructions, counted by emulation), otherwise it says it
cannot count. Target: <= 4,500 instructions per cycle on the default build.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from beamstream.hw.interface import CoreConfig
from beamstream.hwmodel.core import scores_to_float, step_fixed

VOCAB, BEAMS, K = 50257, 4, 8
TARGET = 5e6  # logits/s
INSTRUCTIONS_TARGET = 4500  # per simulated cycle, default build
SEED = 5
# The child: open the sim backend, run one step (start-up), then N more; prints the CYCLES of the last.
_CHILD = """
import json, sys
from beamstream.backends.driver_backends import SimBackend
from beamstream.bench.sim import K, make_step
from beamstream.hw.interface import CoreConfig
backend = SimBackend(CoreConfig(**json.loads(sys.argv[1])))
logits, scores = make_step()
for _ in range(1 + int(sys.argv[2])):
    backend.step(logits, scores, K)
print(backend.last_cycles)
backend.close()
"""


def make_step(seed: int = SEED):
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 4.0, (BEAMS, VOCAB)).astype(np.float32),
            -rng.exponential(4.0, BEAMS).astype(np.float32))


def device_rate(cfg: CoreConfig, repeats: int) -> tuple[float, float, int, float]:
    """(logits/s in wall time, logits/s in this process's CPU time, CYCLES of the step, the share of the device's
    cycles on which its burst clock ticked) of the `sim` backend on one step (the median of `repeats` steps), after
    checking it against the hwmodel. On a shared machine the CPU-time rate is what the build can do; the wall-time
    rate also counts the time other processes held the cores."""
    from beamstream.backends.driver_backends import SimBackend

    backend = SimBackend(cfg)
    try:
        logits, scores = make_step()
        got = backend.step(logits, scores, K)
        want = step_fixed(logits, scores, K, cfg)
        if not (np.array_equal(got.tokens, want[2]) and np.array_equal(got.beams, want[1])
                and np.array_equal(got.scores, scores_to_float(want[0], cfg))):
            raise AssertionError("sim backend differs from the hwmodel on the bench step")
        device = backend.driver.transport.device
        cycles, burst = device.cycles, device.burst_cycles
        walls, cpus = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            backend.step(logits, scores, K)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu_start)
        # The median step: one step held up by another process does not move it.
        burst_share = (device.burst_cycles - burst) / (device.cycles - cycles)
        return BEAMS * VOCAB / np.median(walls), BEAMS * VOCAB / np.median(cpus), backend.last_cycles, burst_share
    finally:
        backend.close()


def cpu_description() -> str:
    """This CPU's model name and widest x86 SIMD level (from /proc/cpuinfo; 'unknown' elsewhere)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", info, re.M)
    flags = set(flags.group(1).split()) if flags else set()
    simd = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse4_2", "SSE4.2"))
                 if flag in flags), "no AVX")
    return f"{model.group(1).strip() if model else 'unknown CPU'}, {simd}"


def _perf_works() -> bool:
    perf = shutil.which("perf")
    if perf is None:
        return False
    probe = subprocess.run([perf, "stat", "-x,", "-e", "instructions:u", "true"], capture_output=True, text=True)
    return probe.returncode == 0 and re.search(r"^\d+,", probe.stderr, re.M) is not None


def _count_child(cfg: CoreConfig, steps: int, tool: str) -> tuple[int, int]:
    """(user-space instructions, CYCLES of a step) of the child running `steps` steps after its start-up step."""
    cmd = [sys.executable, "-c", _CHILD, json.dumps(cfg.to_dict()), str(steps)]
    # One BLAS thread: numpy's OpenBLAS starts idle threads that spin for a while after each call, and their
    # instructions, which depend on timing, moved the count of one library by +-200 per cycle between runs.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        if tool == "perf":
            out = Path(tmp) / "perf.csv"
            proc = subprocess.run(["perf", "stat", "-x,", "-o", str(out), "-e", "instructions:u", *cmd],
                                  capture_output=True, text=True, env=env)
            found = re.search(r"^(\d+),", out.read_text() if out.exists() else "", re.M)
        else:
            out = Path(tmp) / "callgrind.out"
            proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                                  capture_output=True, text=True, env=env)
            found = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text() if out.exists() else "", re.M)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"counting instructions with {tool} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return int(found.group(1)), int(proc.stdout.split()[-1])


def instructions_per_cycle(cfg: CoreConfig, steps: int = 2) -> tuple[float, str] | None:
    """(user-space instructions per simulated cycle of whole `sim` steps, the counter used), or None when neither
    perf nor valgrind can count here. The device is built first when it is not cached (a build is not counted)."""
    from beamstream.transports.verilated import build_device

    tool = "perf" if _perf_works() else "callgrind" if shutil.which("valgrind") else None
    if tool is None:
        return None
    build_device(cfg)
    base, _ = _count_child(cfg, 0, tool)
    total, cycles = _count_child(cfg, steps, tool)
    return (total - base) / (steps * cycles), tool


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
    print(f"   step V={VOCAB} B={BEAMS} K={K}; CPU {cpu_description()}", flush=True)
    rates = {}
    for cfg in (default, CoreConfig(k_max=K)):
        try:
            rate, cpu_rate, cycles, burst_share = device_rate(cfg, repeats)
        except RuntimeError as exc:
            print(f"   sim device {cfg.slug()}: unavailable: {str(exc).splitlines()[0]}")
            continue
        rates[cfg] = rate
        print(f"   sim device, build {cfg.slug()} (K_MAX={cfg.k_max}), {cycles} cycles/step, the burst clock on "
              f"{burst_share:.2%} of them:", flush=True)
        for label, r in (("wall time", rate), ("CPU time ", cpu_rate)):
            verdict = "meets" if r >= TARGET else "MISSES"
            print(f"     {label}: {r / 1e6:5.2f} M logits/s, {r / (BEAMS * VOCAB) * cycles / 1e6:.2f} M simulated "
                  f"cycles/s ({verdict} the {TARGET / 1e6:.0f} M target)", flush=True)
        counted = instructions_per_cycle(cfg, 1 if getattr(args, "quick", False) else 2)
        if counted is None:
            print("     instructions: cannot count here (neither perf stat nor valgrind works)", flush=True)
        else:
            per_cycle, tool = counted
            verdict = ("meets" if per_cycle <= INSTRUCTIONS_TARGET else "MISSES") if cfg == default else "no target"
            print(f"     instructions: {per_cycle:,.0f} user-space per simulated cycle ({tool}; {verdict}, target "
                  f"<= {INSTRUCTIONS_TARGET:,} on the default build)", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"   load average {load:.1f} on {os.cpu_count()} CPUs", flush=True)
    if default not in rates:
        return
    reference = cocotb_rate(default)
    print(f"   cocotb path (cocotbext-axi), build {default.slug()}: {reference / 1e6:7.3f} M logits/s")
    print(f"   ratio sim device / cocotb, same build:  {rates[default] / reference:7.0f}x")
