"""What every test module shares: the seed of random tests, and what happens when a tool is missing.

- Random tests seed their generators with `seeded(n)`: n plus BEAMSTREAM_SEED (default 0, so CI's seeds are fixed).
  The value is printed in the pytest header and summary; a failure seen with BEAMSTREAM_SEED=s replays with the same s.
- `require("module")` replaces pytest.importorskip: a missing tool skips the test on a developer's machine, but
  fails it, with the reason, when CI is set or when tests were selected by marker (-m rtl, -m hf, -m slow): there
  every tool is meant to be installed, so a missing one is a defect.
"""
import importlib
import os

import pytest

_DEFAULT_MARKEXPR = "not slow"   # pyproject's addopts
_SEED = os.environ.get("BEAMSTREAM_SEED", "0")
if not _SEED.isdigit():
    raise pytest.UsageError(f"BEAMSTREAM_SEED={_SEED!r} must be a non-negative integer")
SEED_OFFSET = int(_SEED)
_strict = bool(os.environ.get("CI"))


def seeded(n: int) -> int:
    """The seed a random test uses where it used to use `n`."""
    return n + SEED_OFFSET


def strict() -> bool:
    """True when a missing tool must fail a test instead of skipping it."""
    return _strict


def require(module: str, why: str = ""):
    """Import and return `module`; when it is missing, skip (developer machine) or fail (CI, -m selection)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        reason = f"{module} is not installed ({exc}){': ' + why if why else ''}"
        if strict():
            pytest.fail(f"{reason}; CI is set or the tests were selected by marker, so every tool must be here",
                        pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def pytest_configure(config):
    global _strict
    markexpr = getattr(config.option, "markexpr", "") or ""
    _strict = bool(os.environ.get("CI")) or markexpr.strip() not in ("", _DEFAULT_MARKEXPR)


def _settings() -> str:
    mode = "missing tools fail" if _strict else "missing tools skip (set CI=1 to fail instead)"
    return f"beamstream: BEAMSTREAM_SEED={SEED_OFFSET} (random tests use their fixed seeds + this); {mode}"


def pytest_report_header(config):
    return [_settings()]


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(_settings())     # also under -q, which hides the header


@pytest.fixture(scope="module")
def hf_default():
    """The default GGUF through transformers + torch (the reference), on one torch thread while a module uses it."""
    torch = require("torch")
    require("transformers")
    from beamstream.models import load_hf_default

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_hf_default()
    torch.set_num_threads(old)
