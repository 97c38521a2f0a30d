"""The profile's output: profile.md (tables), results.json (every figure) and plots, from one ProfileData.

Plots need matplotlib; without it they are skipped and profile.md says so.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from . import offload
from .phases import COLUMN_LABELS, COLUMNS
from .run import ProfileData

MARKERS = {"PYNQ-Z2": "v", "ZCU104": "^"}   # the KV260's projection is the ZCU104's (same PS, same family)
COLORS = {"embedding": "#bbbbbb", "attn_proj": "#1f77b4", "attn_scores": "#6baed6", "attn_weighted_sum": "#c6dbef",
          "mlp": "#2ca02c", "head": "#9467bd", "model_other": "#dddddd", "step": "#d62728", "cache_reorder": "#ffbb78",
          "decoder": "#ff7f0e"}


def _table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}" if seconds < 1e-3 else f"{seconds * 1e3:.2f}"


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.1f} MiB" if nbytes >= 2**20 else f"{nbytes / 2**10:,.1f} KiB"


def split_table(splits) -> str:
    header = ["B", "context", "V", "token ms"] + [f"{COLUMN_LABELS[c]} ms (%)" for c in COLUMNS]
    rows = []
    for s in splits:
        rows.append([s.beams, f"{s.context:,}", f"{s.vocab:,}", _ms(s.total)] +
                    [f"{_ms(s.seconds[c])} ({100 * s.seconds[c] / s.total:.1f})" for c in COLUMNS])
    return _table(header, rows)


def memory_table(data: ProfileData) -> str:
    fmts = [k[5:] for k in data.memory[0][2] if k.startswith("wire_")] if data.memory else []
    header = ["B", "context", "weights", "KV / token / beam", "KV / beam", "KV, all beams", "logits"] + \
             [f"DMA buffer {f}" for f in fmts]
    rows = [[b, f"{c:,}", _mb(m["weights"]), _mb(m["kv_per_token_per_beam"]), _mb(m["kv_per_beam"]),
             _mb(m["kv_total"]), _mb(m["logits"])] + [_mb(m[f"wire_{f}"]) for f in fmts] for b, c, m in data.memory]
    return _table(header, rows)


def _board_groups(tokens) -> dict[str, list]:
    """Boards whose projections coincide (same PS and family: ZCU104 and KV260) share a column."""
    groups: dict[tuple, list] = {}
    for f in tokens:
        groups.setdefault(f.board, []).append(f)
    merged: dict[tuple, list[str]] = {}
    for board, fs in groups.items():
        merged.setdefault(tuple((f.fmt, round(f.board_step_s, 12)) for f in fs), []).append(board)
    return {" = ".join(boards): groups[boards[0]] for boards in merged.values()}


def fabric_table(data: ProfileData) -> str:
    """One row per configuration: the measured token and, per board and wire format, the token with the step on
    the fabric (its speed-up; c/t: the board step is compute- or transfer-bound)."""
    if not data.fabric:
        return ""
    groups = _board_groups(data.fabric[0][1])
    header = ["B", "context", "token ms (CPU)", "step ms (CPU)", "Amdahl bound"] + \
             [f"{board} {f.fmt}" for board, fs in groups.items() for f in fs]
    rows = []
    for s, tokens in data.fabric:
        by = {(f.board, f.fmt): f for f in tokens}
        cells = []
        for board, fs in groups.items():
            for f0 in fs:
                f = by[(board.split(" = ")[0], f0.fmt)]
                cells.append(f"{_ms(f.fabric_token_s)} ms ({f.speedup:.3f}x, {f.bound[0]}; board "
                             f"{f.board_step_s * 1e6:.0f} µs + packing {f.pack_s * 1e6:.0f} µs)")
        rows.append([s.beams, f"{s.context:,}", _ms(s.total), _ms(s.seconds["step"]),
                     f"{tokens[0].amdahl:.3f}x"] + cells)
    return _table(header, rows)


def wire_summary(data: ProfileData) -> list[dict]:
    """Per format: prompts compared, equal count, first differences."""
    ok = [r for _, r in data.wire if r.get("status") == "ok"]
    out = []
    for fmt in ("fp32", "bf16", "fp16"):
        diffs = [r[fmt]["first_diff"] for r in ok if not r[fmt]["equal"]]
        out.append({"format": fmt, "prompts": len(ok), "equal": len(ok) - len(diffs), "first_diffs": sorted(diffs),
                    "median_first_diff": statistics.median(diffs) if diffs else None})
    return out


def wire_table(data: ProfileData) -> str:
    rows = []
    for w in wire_summary(data):
        share = f"{w['equal']}/{w['prompts']} ({100 * w['equal'] / w['prompts']:.0f} %)" if w["prompts"] else "n/a"
        rows.append([w["format"], share, ", ".join(str(d) for d in w["first_diffs"]) or "-",
                     "-" if w["median_first_diff"] is None else w["median_first_diff"]])
    failed = [(t, r) for t, r in data.wire if r.get("status") != "ok"]
    text = _table(["wire format", "decodes equal to float, token for token", "first difference at generated token",
                   "median"], rows)
    if failed:
        text += "\n\nPrompts not compared: " + "; ".join(f"`{t[:30]}`: {r.get('error', '')[:120]}"
                                                          for t, r in failed[:5])
    return text


def markdown(data: ProfileData, plots_note: str) -> str:
    m, p = data.machine, data.plan
    wire_n = sum(1 for _, r in data.wire if r.get("status") == "ok")
    parts = [
        "# beamstream profile: where a decoded token's time goes",
        f"Model: {data.model_name}. {data.model_note}".strip(),
        f"Machine: {m.get('cpu')} ({m.get('machine')}), NumPy {m.get('numpy')} dispatching to {m.get('simd')}, "
        f"BLAS threads: {m.get('blas_threads')}, Python {m.get('python')}. Step backend: `{data.backend}`.",
        f"Method: per configuration the fastest of {p.repeats} beam-search decode(s) (no EOS, so every token is "
        "generated), and in it the median token (by wall time), with the "
        "project's decoder; the model's session reports its phases to a timer (`profiler.phase(name)`), the "
        "session's `advance` and the backend's `step` are timed with the same clock, and the decoder's own time "
        "is the gaps between those calls. The window runs from the end of the prompt's step to the end of the "
        f"last step ({p.new_tokens - 1} tokens, each split on its own); every figure is wall time per token. "
        "Prefill is not in it.",
        "## Time per generated token", split_table(data.splits),
        "The host's bookkeeping is `host: cache reorder` (the runtime's KV cache reordered by parent beam) and "
        "`host: decoder` (the decoder between the model and the step: candidates, hypotheses, processors); "
        "`model, outside phases` = the forward's time not inside any phase.",
    ]
    if data.vocab_splits:
        parts += [f"## The step's share against the vocabulary (B = {p.sweep_beams}, context {p.sweep_context}, "
                  "the default model's shape with each vocabulary)", split_table(data.vocab_splits)]
    parts += [
        "## Memory", memory_table(data),
        "KV cache per token and beam = 2 (key, value) x layers x KV heads x head size x item size; logits = B x V "
        "float32; DMA buffer = the step's bytes in each wire format (header beats and padding included).",
        "## The same token with the step on a board's fabric",
        f"Board step time: `beamstream report`'s projection, {data.basis.note}. Builds: "
        + ", ".join(f"{f} on {lanes} lanes" for f, lanes in offload.WIRE_LANES.items())
        + " (128-bit beats). Token on fabric = measured token - measured step + host packing (measured here, "
          "`pack_step`) + board step. Amdahl bound = token / (token - step): the speed-up if the step cost nothing. "
          "Not modelled: the DMA start-up and the driver's register writes (tens of µs on PYNQ).",
        fabric_table(data),
    ]
    if not data.wire and data.wire_model:
        parts += ["## What each wire format costs in answers", data.wire_model]
    if data.wire:
        parts += [f"## What each wire format costs in answers ({wire_n} prompts, {p.wire_beams} beams, "
                  f"{p.wire_tokens} new tokens, model: {data.wire_model or 'n/a'})",
                  "The float decode (`numpy` backend) against the same decode on `hwmodel` (the core's bit-exact "
                  "model) with the logits in each wire format; the best sequence is compared token for token.",
                  wire_table(data)]
    parts += ["## Plots", plots_note]
    return "\n\n".join(parts) + "\n"


def results(data: ProfileData) -> dict:
    return {
        "model": data.model_name, "model_note": data.model_note, "machine": data.machine, "backend": data.backend,
        "plan": data.plan.__dict__, "facts": {**data.facts.__dict__,
                                              "kv_bytes_per_token_per_beam": data.facts.kv_bytes_per_token_per_beam},
        "splits": [s.to_dict() for s in data.splits], "vocab_sweep": [s.to_dict() for s in data.vocab_splits],
        "memory": [{"beams": b, "context": c, **m} for b, c, m in data.memory],
        "fabric": [{"beams": s.beams, "context": s.context, **f.to_dict()} for s, fs in data.fabric for f in fs],
        "projection_basis": data.basis.note,
        "wire": {"model": data.wire_model, "summary": wire_summary(data),
                 "prompts": [{"prompt": t, **r} for t, r in data.wire]},
    }


# ---- plots --------------------------------------------------------------------------------------------------

def plot_split(data: ProfileData, path: Path) -> None:
    """A stacked bar per (B, context): ms per token by column, with each board's fabric token beside it."""
    import matplotlib.pyplot as plt

    splits = data.splits
    fig, ax = plt.subplots(figsize=(max(8.0, 0.55 * len(splits) + 4.5), 4.6))
    xs = range(len(splits))
    bottom = [0.0] * len(splits)
    for col in COLUMNS:
        vals = [s.seconds[col] * 1e3 for s in splits]
        ax.bar(xs, vals, bottom=bottom, color=COLORS[col], label=COLUMN_LABELS[col], edgecolor="white", lw=0.3)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for board, marker in MARKERS.items():
        pts = [(x, f.fabric_token_s * 1e3) for (_, tokens), x in zip(data.fabric, xs) for f in tokens
               if f.board == board and f.fmt == "bf16"]
        if pts:
            ax.plot(*zip(*pts), marker, color="black", ms=4, ls="none", label=f"token, bf16 step on {board}")
    ax.set_xticks(list(xs), [f"B={s.beams}\n{s.context}" for s in splits], fontsize=7)
    ax.set(ylabel="ms per generated token", xlabel="beams / context tokens")
    ax.set_title(f"Where a generated token's time goes\n{data.model_name}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_step_share(data: ProfileData, path: Path) -> None:
    """The step's share of a token against the vocabulary (sweep) and against the context (per beam count)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.8))
    if data.vocab_splits:
        vs = data.vocab_splits
        left.plot([s.vocab for s in vs], [100 * s.step_share for s in vs], "o-", color="tab:red")
        left.set(xscale="log", title=f"vs vocabulary (B={data.plan.sweep_beams}, context {data.plan.sweep_context})")
    left.set(xlabel="vocabulary V", ylabel="step share of a token (%)")
    left.grid(alpha=0.3, which="both")
    for beams in data.plan.beams:
        pts = [(s.context, 100 * s.step_share) for s in data.splits if s.beams == beams]
        right.plot(*zip(*pts), "o-", label=f"B={beams}")
    right.set(xscale="log", xlabel="context tokens", ylabel="step share of a token (%)",
              title=f"vs context (V={data.facts.vocab:,})")
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(data: ProfileData, out_dir) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        import matplotlib
        matplotlib.use("Agg")
        plot_split(data, out_dir / "token_split.png")
        plot_step_share(data, out_dir / "step_share.png")
        written += [out_dir / "token_split.png", out_dir / "step_share.png"]
        note = "![token split](token_split.png)\n\n![step share](step_share.png)"
    except ImportError:
        note = "Plots skipped: matplotlib is not installed (pip install matplotlib, or 'beamstream[report]')."
    (out_dir / "profile.md").write_text(markdown(data, note))
    (out_dir / "results.json").write_text(json.dumps(results(data), indent=1, default=str))
    return [out_dir / "profile.md", out_dir / "results.json", *written]


def summary(data: ProfileData) -> list[str]:
    out = []
    for s in data.splits:
        out.append(f"B={s.beams} context={s.context:>5}: {s.total * 1e3:8.2f} ms/token, step "
                   f"{100 * s.step_share:5.2f} %, head {100 * s.seconds['head'] / s.total:5.1f} %")
    for w in wire_summary(data):
        if w["prompts"]:
            out.append(f"wire {w['format']}: {w['equal']}/{w['prompts']} decodes equal to float")
    return out
