"""The contract module (beamstream.hw.interface): register encodings against docs/interface.md's tables, the
CoreConfig round trip through the build registers, and the import boundary (gateware imports no host module)."""
import ast
import importlib.resources
import json
import random
import subprocess
import sys

import pytest

from beamstream.hw.interface import FORMATS, CoreConfig, Reg

from conftest import require, seeded


def test_register_offsets_are_those_of_docs_interface_md():
    assert {r.name: int(r) for r in Reg} == {
        "CTRL": 0x00, "STATUS": 0x04, "VOCAB": 0x08, "BEAMS": 0x0C, "K": 0x10, "CONFIG": 0x14, "VOCAB_MAX": 0x18,
        "CYCLES": 0x1C, "STEPS": 0x20, "ID": 0x24, "WIDTHS": 0x28, "MODE": 0x2C}


def random_config(rng: random.Random) -> CoreConfig:
    fmt = rng.choice(sorted(FORMATS))
    logit_bits = rng.randint(2, 32)
    lanes_min = 1 if fmt == "fp32" else 2
    return CoreConfig(lanes=rng.randint(lanes_min, 255), k_max=rng.randint(1, 255), beams_max=rng.randint(1, 255),
                      vocab_max=rng.randint(1, 1 << 24), fmt=fmt, logit_bits=logit_bits,
                      frac_bits=rng.randint(0, logit_bits - 1))


def test_config_round_trips_through_the_build_registers():
    rng = random.Random(seeded(1))
    edges = [CoreConfig(), CoreConfig(lanes=255, k_max=255, beams_max=255, vocab_max=1 << 24, fmt="fp16",
                                      logit_bits=32, frac_bits=31),
             CoreConfig(lanes=1, k_max=1, beams_max=1, vocab_max=1, logit_bits=2, frac_bits=0)]
    for cfg in edges + [random_config(rng) for _ in range(200)]:
        regs = cfg.build_registers()
        assert set(regs) == {Reg.CONFIG, Reg.VOCAB_MAX, Reg.WIDTHS}
        # the bit fields of docs/interface.md §3, spelled out here independently of the module's field tables
        assert regs[Reg.CONFIG] == (cfg.lanes | cfg.k_max << 8 | cfg.beams_max << 16
                                    | {"fp32": 0, "bf16": 1, "fp16": 2}[cfg.fmt] << 24 | cfg.frac_bits << 26)
        assert regs[Reg.WIDTHS] == cfg.logit_bits and regs[Reg.VOCAB_MAX] == cfg.vocab_max
        assert all(0 <= v < 1 << 32 for v in regs.values())
        assert CoreConfig.from_registers(regs[Reg.CONFIG], regs[Reg.VOCAB_MAX], regs[Reg.WIDTHS]) == cfg


@pytest.mark.parametrize("config,vocab_max,widths,match", [
    (CoreConfig().config_register | 3 << 24, 1024, 20, "input format 3"),
    (CoreConfig().config_register, 1024, 0, "logit_bits=0"),
    (CoreConfig().config_register, 0, 20, "vocab_max=0"),
    (CoreConfig().config_register & ~0xFF, 1024, 20, "lanes=0"),
    (CoreConfig(frac_bits=12).config_register, 1024, 12, "frac_bits=12 must be in 0..logit_bits-1"),
])
def test_registers_of_no_build_are_refused(config, vocab_max, widths, match):
    with pytest.raises(ValueError, match=match):
        CoreConfig.from_registers(config, vocab_max, widths)


def run_python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def loaded_after(module: str) -> list[str]:
    return json.loads(run_python(f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"))


def test_the_contract_module_needs_neither_amaranth_nor_numpy():
    loaded = loaded_after("beamstream.hw.interface")
    assert [m for m in loaded if m.split(".")[0] in ("amaranth", "numpy")] == []
    assert [m for m in loaded if m.startswith("beamstream")] == ["beamstream", "beamstream.hw",
                                                                 "beamstream.hw.interface"]


def test_importing_the_gateware_runs_no_host_module():
    require("amaranth")
    loaded = loaded_after("beamstream.hw.verilog")
    host = [m for m in loaded if m.startswith("beamstream") and m != "beamstream" and not m.startswith("beamstream.hw")]
    assert host == [], f"importing beamstream.hw imported host modules: {host}"


def test_no_gateware_source_imports_the_host_package():
    """Also imports inside functions, which importing the modules does not run."""
    for source in importlib.resources.files("beamstream.hw").iterdir():
        if not source.name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("beamstream") or name.startswith("beamstream.hw"), \
                    f"{source.name}:{node.lineno} imports {name}"
