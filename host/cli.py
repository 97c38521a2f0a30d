"""`beamstream` command line: each subcommand lives in its own module under beamstream.commands."""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "generate": "decode prompts with the embedded default model (or --model FILE.gguf / DIR)",
    "bench": "benchmarks, printed as ratios against the reference in one run",
    "verilog": "write the core's top level as Verilog",
    "report": "co-design report: resources, logic depth, cycles, projected board latency",
    "profile": "where a decoded token's time goes, the step on each board's fabric, wire-format answers",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="beamstream", description="beam-search decoding with its hot step on FPGA fabric")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, help_text in COMMANDS.items():
        modules[name] = importlib.import_module(f"beamstream.commands.{name}")
        modules[name].add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        return modules[args.command].run(args) or 0
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"beamstream {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
