"""`beamstream profile`: where a decoded token's time goes, what the fabric would buy, what each wire format
costs in answers (docs/profile.md)."""
from __future__ import annotations

import time
from pathlib import Path

from .report import _int_list, write_and_summarise


def _ints(text: str) -> tuple[int, ...]:
    return tuple(_int_list(text))


def add_arguments(parser):
    parser.add_argument("-o", "--out", default="profile", help="folder for profile.md, results.json and the plots")
    parser.add_argument("--model", default=None,
                        help="a Llama .gguf file (NumPy runtime) or a Hugging Face model folder (default: the "
                             "embedded default model on the NumPy runtime); synthetic-smollm2 / synthetic-tiny: "
                             "random-weight Llamas")
    parser.add_argument("--weights", choices=("float32", "float16"), default=None,
                        help="weight form on the NumPy runtime (default: float32 on 64-bit machines, float16 on "
                             "32-bit ones)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer beams, contexts and prompts")
    parser.add_argument("--beams", default=None, help="beam counts (default 1,4,8)")
    parser.add_argument("--contexts", default=None, help="context lengths in tokens (default 16,64,256,1024)")
    parser.add_argument("--tokens", type=int, default=None, help="tokens per timed decode (default 6)")
    parser.add_argument("--prompts", type=int, default=None,
                        help="prompts for the wire-format comparison (default 50 of the 55)")
    parser.add_argument("--no-answers", action="store_true", help="skip the wire-format comparison")
    parser.add_argument("--backend", default="numpy", help="backend of the timed step (numpy; pynq on a board)")
    parser.add_argument("--report", default=None,
                        help="a `beamstream report` results.json: the board projection takes its cycle formula "
                             "(default: the cycle bound of docs/interface.md §5); the clock is always the one each "
                             "board's bitstream is built at (beamstream.hw.boards)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads while timing (default 1; 0 = the library's default)")
    parser.add_argument("--cache", default=None,
                        help="folder of finished wire-format points (default $BEAMSTREAM_REPORT_CACHE or "
                             "profile/ in the per-user cache, beamstream.paths)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address for the wire-format points")
    parser.add_argument("--jobs", type=int, default=2, help="local Dask worker processes (1: in this process)")


def run(args):
    from dataclasses import replace

    from beamstream.paths import cache_dir
    from beamstream.profile import offload, render
    from beamstream.profile.run import QUICK, ProfilePlan, run as run_profile
    from beamstream.report import cluster

    plan = QUICK if args.quick else ProfilePlan()
    if args.beams:
        plan = replace(plan, beams=_ints(args.beams))
    if args.contexts:
        plan = replace(plan, contexts=_ints(args.contexts))
    if args.tokens is not None:
        if args.tokens < 2:
            raise ValueError(f"--tokens must be >= 2, got {args.tokens}")
        plan = replace(plan, new_tokens=args.tokens)
    if args.prompts is not None:
        if args.prompts < 1:
            raise ValueError(f"--prompts must be >= 1, got {args.prompts}")
        plan = replace(plan, prompts=args.prompts)
    if max(plan.beams) > 8:
        raise ValueError(f"--beams: the core takes at most 8 beams, got {max(plan.beams)}")
    if args.jobs < 1 or args.threads < 0:
        raise ValueError("--jobs must be >= 1 and --threads >= 0")
    if args.report and not Path(args.report).is_file():
        raise FileNotFoundError(f"--report {args.report}: no such file (run `beamstream report` first)")
    basis = offload.basis_from_report(args.report) if args.report else offload.NO_REPORT

    t0 = time.perf_counter()
    data = run_profile(args.model, plan, backend=args.backend, basis=basis, weights=args.weights,
                       cache=cluster.Cache(Path(args.cache or cluster.default_cache(str(cache_dir("profile"))))),
                       scheduler=args.scheduler or cluster.default_scheduler(), workers=args.jobs,
                       threads=args.threads or None, answers=not args.no_answers)
    return write_and_summarise(render, data, Path(args.out), t0)
