"""Where beamstream keeps and finds files outside its package: the per-user cache and the bitstream search order.

Nothing is found through a source checkout: an installed wheel behaves like an editable install.

- **Cache** (Verilator builds, report results): `$BEAMSTREAM_CACHE` if set, else `$XDG_CACHE_HOME/beamstream`,
  else `~/.cache/beamstream`. Everything in it can be deleted; it is rebuilt on demand.
- **Bitstreams** (`find_bitstream`): an explicit path, else `$BEAMSTREAM_BITSTREAM`, else
  `beamstream.bit` in `$XDG_DATA_HOME/beamstream/bitstreams/<board>/` (`~/.local/share/...`), else in
  `/usr/local/share/beamstream/bitstreams/<board>/`. Its `.hwh` sits beside the `.bit`.
"""
from __future__ import annotations

import os
from pathlib import Path

BOARDS = ("pynq-z2", "zcu104", "kv260")
BITSTREAM_NAME = "beamstream.bit"
SYSTEM_BITSTREAMS = Path("/usr/local/share/beamstream/bitstreams")


def _xdg(variable: str, default: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / default)


def cache_dir(*parts: str) -> Path:
    """A folder in the per-user cache (not created here)."""
    root = os.environ.get("BEAMSTREAM_CACHE")
    return (Path(root) if root else _xdg("XDG_CACHE_HOME", ".cache") / "beamstream").joinpath(*parts)


def bitstream_dirs(board: str) -> list[Path]:
    """The folders searched for `board`'s bitstream, in order."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; bitstreams are built for {', '.join(BOARDS)}")
    return [_xdg("XDG_DATA_HOME", ".local/share") / "beamstream" / "bitstreams" / board, SYSTEM_BITSTREAMS / board]


def find_bitstream(board: str | None, bitstream=None) -> Path:
    """The .bit to load: `bitstream` if given (as is: PYNQ's Overlay checks it), else $BEAMSTREAM_BITSTREAM, else
    the first `beamstream.bit` in `bitstream_dirs(board)`. FileNotFoundError names every place looked at.
    """
    if bitstream is not None:
        return Path(bitstream).expanduser()
    from_env = os.environ.get("BEAMSTREAM_BITSTREAM")
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"BEAMSTREAM_BITSTREAM names {path}, which is not a file")
        return path
    if board is None:
        raise ValueError("no board given and none detected (PYNQ images set BOARD); "
                         f"pass board= one of {', '.join(BOARDS)}, bitstream=, or set BEAMSTREAM_BITSTREAM")
    candidates = [folder / BITSTREAM_NAME for folder in bitstream_dirs(board)]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no {board} bitstream in {' or '.join(str(p) for p in candidates)}: build it with "
        f"'make bitstream BOARD={board}' (Vivado 2023.2) in a beamstream checkout, copy its .bit and .hwh to "
        f"{candidates[0].parent}/ on the board, or pass bitstream= / set BEAMSTREAM_BITSTREAM")
