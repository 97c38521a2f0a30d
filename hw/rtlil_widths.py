"""Make every operand width explicit in Amaranth's RTLIL, so the Verilog that Yosys writes from it lints clean.

Yosys's `write_verilog` prints a cell such as `$ge` with a 6-bit A and a 5-bit B as `a >= b` and leaves the
extension to Verilog's sizing rules; the value is right, but a linter (Verilator, without any option) warns about
every such expression (WIDTHEXPAND / WIDTHTRUNC), about `!x` of a vector, and about `case` statements without a
default. This rewrite states what Verilog would do anyway: each operand of an arithmetic, bitwise, shift or
compare cell is extended (zero or sign, as the cell says) to the width Verilog computes the expression in, a result
narrower than that width is taken from a wider wire, a logical not of a vector becomes a compare with zero, and
every `switch` gets an empty default case. The function of the netlist does not change.
"""
from __future__ import annotations

import re

# Operands extended to max(A, B, Y), the width Verilog evaluates `y = a op b` in.
_CONTEXT_BINARY = {"$add", "$sub", "$mul", "$and", "$or", "$xor", "$xnor"}
# Operands extended to max(A, B); the result is one bit.
_COMPARE = {"$lt", "$le", "$eq", "$ne", "$ge", "$gt", "$eqx", "$nex"}
# A extended to max(A, Y) (B is a shift amount or absent).
_CONTEXT_UNARY = {"$not", "$neg", "$pos", "$shl", "$shr", "$sshl", "$sshr"}

_CHUNK = re.compile(r"(?P<const>\d+'[01xzm-]*)|(?P<name>[\\$]\S+)(?:\s+\[(?P<hi>\d+)(?::(?P<lo>\d+))?\])?")


class _Module:
    def __init__(self):
        self.widths: dict[str, int] = {}
        self.wires: list[str] = []      # declarations of added wires, written before the cell or process
        self.extra: list[str] = []      # connections of widened results, written after the cell
        self.serial = 0

    def fresh_wire(self, width: int) -> str:
        self.serial += 1
        name = f"$widths${self.serial}"
        self.widths[name] = width
        self.wires.append(f"  wire width {width} {name}\n")
        return name


def _chunks(sig: str) -> list[str]:
    sig = sig.strip()
    if sig.startswith("{"):
        sig = sig[1:-1]
    return [m.group(0) for m in _CHUNK.finditer(sig)]


def _msb(chunk: str, mod: _Module) -> str:
    m = _CHUNK.fullmatch(chunk)
    if m.group("const"):
        bits = chunk.split("'", 1)[1]
        return f"1'{bits[0] if bits else '0'}"
    name = m.group("name")
    hi = m.group("hi")
    if hi is None:
        hi = mod.widths[name] - 1
    return f"{name} [{hi}]"


def _extend(sig: str, width: int, to: int, signed: bool, mod: _Module) -> str:
    if to <= width:
        return sig
    chunks = _chunks(sig)
    ext = [_msb(chunks[0], mod)] * (to - width) if signed else [f"{to - width}'" + "0" * (to - width)]
    return "{ " + " ".join(ext + chunks) + " }"


def _rewrite_cell(kind: str, params: dict[str, int], conns: dict[str, str], mod: _Module):
    """(params, conns) with explicit widths for one cell; the caller keeps every other line as it was."""
    a_w, b_w, y_w = params.get("A_WIDTH"), params.get("B_WIDTH"), params.get("Y_WIDTH")
    signed = bool(params.get("A_SIGNED"))
    if kind == "$logic_not" and a_w > 1:
        kind, b_w = "$eq", 0
        params.update(B_WIDTH=0, B_SIGNED=0)
        conns["B"] = "{ }"
    if kind in _CONTEXT_BINARY:
        width = max(a_w, b_w, y_w)
        conns["A"] = _extend(conns["A"], a_w, width, signed, mod)
        conns["B"] = _extend(conns["B"], b_w, width, signed, mod)
        params.update(A_WIDTH=width, B_WIDTH=width)
    elif kind in _COMPARE:
        width = max(a_w, b_w)
        conns["A"] = _extend(conns["A"], a_w, width, signed, mod)
        conns["B"] = _extend(conns["B"], b_w, width, signed, mod)
        params.update(A_WIDTH=width, B_WIDTH=width)
        if kind in ("$eq", "$ne") and re.fullmatch(r"\{ \d+'0* \}|\d+'0*", conns["B"].strip()):
            # write_verilog prints `x == 0` as `!x`, which lints as a vector in a logical operator: say x < 1
            kind = "$lt" if kind == "$eq" else "$gt"
            params.update(A_SIGNED=0, B_SIGNED=0)
            conns["B"] = f"{width}'" + "0" * (width - 1) + ("1" if kind == "$lt" else "0")
        if y_w != 1:   # a one-bit result, zero-extended into the wider wire
            bit = mod.fresh_wire(1)
            mod.extra.append(f"  connect {conns['Y']} {{ {y_w - 1}'{'0' * (y_w - 1)} {bit} }}\n")
            conns["Y"] = bit
            params["Y_WIDTH"] = 1
        return kind, params, conns
    elif kind in _CONTEXT_UNARY:
        width = max(a_w, y_w)
        conns["A"] = _extend(conns["A"], a_w, width, signed, mod)
        params["A_WIDTH"] = width
    else:
        return kind, params, conns
    if y_w < width:    # the result is the low bits of a full-width one
        wide = mod.fresh_wire(width)
        mod.extra.append(f"  connect {conns['Y']} {wide} [{y_w - 1}:0]\n")
        conns["Y"] = wide
        params["Y_WIDTH"] = width
    return kind, params, conns


def explicit_widths(rtlil_text: str) -> str:
    """`rtlil_text` (as Amaranth's rtlil.convert writes it) with the rewrite described in the module docstring."""
    out: list[str] = []
    lines = rtlil_text.splitlines(keepends=True)
    mod = _Module()
    blocks: list[list] = []     # open module / process / switch blocks; a switch's entry says if it has a default
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = line[:len(line) - len(line.lstrip())]
        if stripped.startswith("cell "):
            _, kind, name = stripped.split()[:3]
            body = []
            i += 1
            while lines[i].strip() != "end":
                body.append(lines[i])
                i += 1
            params = {m.group(1): int(m.group(2)) for m in
                      (re.match(r"\s*parameter \\(\w+) (-?\d+)\s*$", b) for b in body) if m}
            conns = {m.group(1): m.group(2) for m in (re.match(r"\s*connect \\(\S+) (.*?)\s*$", b) for b in body) if m}
            others = [b for b in body if not re.match(r"\s*(parameter \\\w+ -?\d+\s*$|connect )", b)]
            if {"A_WIDTH", "Y_WIDTH"} <= params.keys():
                kind, params, conns = _rewrite_cell(kind, params, conns, mod)
            out.extend(mod.wires)
            out.append(f"{indent}cell {kind} {name}\n")
            out.extend(others)
            out.extend(f"{indent}  parameter \\{k} {v}\n" for k, v in params.items())
            out.extend(f"{indent}  connect \\{k} {v}\n" for k, v in conns.items())
            out.append(f"{indent}end\n")
            out.extend(mod.extra)
            mod.wires, mod.extra = [], []
            i += 1
            continue
        if stripped.startswith("module "):
            mod = _Module()
            blocks.append(["module"])
        elif stripped.startswith("process "):
            # write_verilog leaves out an empty default case, so a default-less switch gets one that assigns a
            # wire of the process's own (also assigned first thing in the process, so it is never a latch).
            dummy = mod.fresh_wire(1)
            blocks.append(["process"])
            out.extend(mod.wires)
            mod.wires = []
            out.append(line)
            out.append(f"{indent}  assign {dummy} 1'0\n")
            i += 1
            continue
        elif stripped.startswith("switch "):
            blocks.append(["switch", False])
        elif stripped == "case" and blocks[-1][0] == "switch":
            blocks[-1][1] = True
        elif stripped.startswith("wire "):
            width = re.search(r"\bwidth (\d+)", stripped)
            mod.widths[stripped.split()[-1]] = int(width.group(1)) if width else 1
        elif stripped == "end":
            block = blocks.pop()
            if block[0] == "switch" and not block[1]:
                out.append(f"{indent}  case\n{indent}    assign {dummy} 1'0\n")
        out.append(line)
        i += 1
    return "".join(out)

