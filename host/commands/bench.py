"""`beamstream bench`: every benchmark in one run, each printing its own ratios against its reference.

Each part lives in beamstream.bench.<name> with `add_arguments(parser)` (optional) and `run(args)`.
"""
import importlib
import time

PARTS = {
    "step": "one decode step: numpy backend vs torch on CPU",
    "search": "whole beam search: beamstream vs transformers generate",
    "processors": "logits processors on the fabric: fallback rate, host time per step vs a full host pass",
    "rtl": "gateware throughput from the CYCLES register",
    "sim": "Verilated RTL as a device vs the cocotb path",
    "model": "the default model: NumPy runtime vs transformers + torch (token time, prefill, peak memory)",
}


def add_arguments(parser):
    parser.add_argument("parts", nargs="*", metavar="PART",
                        help=f"which benchmarks to run (default: all): {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes")


def run(args):
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(PARTS)}")
    for name in args.parts or PARTS:
        try:
            module = importlib.import_module(f"beamstream.bench.{name}")
        except ModuleNotFoundError as exc:
            print(f"\n== {name}: not available ({exc.name} missing)")
            continue
        print(f"\n== {name}: {PARTS[name]}", flush=True)
        t0 = time.perf_counter()
        module.run(args)
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 0
