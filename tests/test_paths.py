"""Where the installed package keeps its cache and finds bitstreams (beamstream.paths): the documented orders."""
from pathlib import Path

import pytest

from beamstream import paths


@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in ("BEAMSTREAM_CACHE", "XDG_CACHE_HOME", "XDG_DATA_HOME", "BEAMSTREAM_BITSTREAM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(paths, "SYSTEM_BITSTREAMS", tmp_path / "system")
    return tmp_path


def test_cache_folder_order(home, monkeypatch):
    assert paths.cache_dir("sim_build") == home / "home" / ".cache" / "beamstream" / "sim_build"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg"))
    assert paths.cache_dir("report") == home / "xdg" / "beamstream" / "report"
    monkeypatch.setenv("BEAMSTREAM_CACHE", str(home / "mine"))
    assert paths.cache_dir("sim_build") == home / "mine" / "sim_build"
    assert not (home / "mine").exists()          # named, not created


def place(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "beamstream.bit").write_bytes(b"bit")
    return folder / "beamstream.bit"


def test_bitstream_search_order(home, monkeypatch):
    with pytest.raises(FileNotFoundError) as exc:
        paths.find_bitstream("zcu104")
    assert str(home / "home/.local/share/beamstream/bitstreams/zcu104/beamstream.bit") in str(exc.value)
    assert str(home / "system/zcu104/beamstream.bit") in str(exc.value)
    assert "make bitstream BOARD=zcu104" in str(exc.value)

    system = place(home / "system" / "zcu104")
    assert paths.find_bitstream("zcu104") == system
    user = place(home / "home" / ".local" / "share" / "beamstream" / "bitstreams" / "zcu104")
    assert paths.find_bitstream("zcu104") == user
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    assert paths.find_bitstream("zcu104") == system
    from_env = place(home / "env")
    monkeypatch.setenv("BEAMSTREAM_BITSTREAM", str(from_env))
    assert paths.find_bitstream("zcu104") == from_env
    assert paths.find_bitstream(None) == from_env                 # no board needed
    assert paths.find_bitstream("zcu104", home / "given.bit") == home / "given.bit"   # explicit: as given


def test_bitstream_errors_are_clear(home, monkeypatch):
    with pytest.raises(ValueError, match="unknown board 'pynq-z3'.*pynq-z2, zcu104, kv260"):
        paths.find_bitstream("pynq-z3")
    with pytest.raises(ValueError, match="no board given and none detected"):
        paths.find_bitstream(None)
    monkeypatch.setenv("BEAMSTREAM_BITSTREAM", str(home / "missing.bit"))
    with pytest.raises(FileNotFoundError, match="BEAMSTREAM_BITSTREAM names .*missing.bit, which is not a file"):
        paths.find_bitstream("kv260")


def test_pynq_backend_says_where_it_looked(home, monkeypatch):
    from beamstream.backends.driver_backends import PynqBackend
    monkeypatch.setenv("BOARD", "Pynq-Z2")
    with pytest.raises(FileNotFoundError, match=r"no pynq-z2 bitstream in .*pynq-z2/beamstream.bit"):
        PynqBackend()
