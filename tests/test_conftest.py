"""tests/conftest.py's rules, run on a throwaway test folder: a missing tool skips locally but fails under CI or a
marker selection, with the reason; BEAMSTREAM_SEED shifts every seed and is printed."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NEEDS_A_MISSING_TOOL = '''
from conftest import require, seeded

require("beamstream_no_such_tool", "to check the rule")


def test_never_runs():
    pass
'''
PRINTS_ITS_SEED = '''
from conftest import seeded


def test_seed():
    print("SEED", seeded(7))
'''


def run_pytest(tmp_path, test_source, *args, **env):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_it.py").write_text(test_source)
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "BEAMSTREAM_SEED", "PYTEST_ADDOPTS")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--rootdir",
                           str(tmp_path), *args, str(tmp_path)], cwd=tmp_path, env={**base, **env},
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_missing_tool_skips_on_a_developer_machine(tmp_path):
    code, out = run_pytest(tmp_path, NEEDS_A_MISSING_TOOL)
    assert code in (0, 5) and "1 skipped" in out and "error" not in out.lower(), out   # 5: nothing ran


@pytest.mark.parametrize("args,env", [((), {"CI": "1"}), (("-m", "rtl"), {})], ids=["CI", "marker"])
def test_a_missing_tool_fails_under_ci_or_a_marker_selection(tmp_path, args, env):
    code, out = run_pytest(tmp_path, NEEDS_A_MISSING_TOOL, *args, **env)
    assert code != 0 and "beamstream_no_such_tool is not installed" in out and "to check the rule" in out, out


def test_the_seed_offset_is_printed_and_applied(tmp_path):
    code, out = run_pytest(tmp_path, PRINTS_ITS_SEED)
    assert code == 0 and "BEAMSTREAM_SEED=0" in out and "SEED 7" in out, out
    code, out = run_pytest(tmp_path, PRINTS_ITS_SEED, BEAMSTREAM_SEED="1000")
    assert code == 0 and "BEAMSTREAM_SEED=1000" in out and "SEED 1007" in out, out
    code, out = run_pytest(tmp_path, PRINTS_ITS_SEED, BEAMSTREAM_SEED="-3")
    assert code != 0 and "must be a non-negative integer" in out, out
