"""scsampler.files: atomic writes leave the old file or the new one, never a temp; ``digest`` reproduces,
byte for byte, the four hashes it replaced (cache keys and run identities must not change)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from scsampler.files import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text, digest


# The four helpers that ``digest`` replaced, as they were written; keys made before must stay valid.
def _content_hash(path, chunk=1 << 20):  # data/cache.py
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _file_digest(path):  # engine/runs.py
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=8).hexdigest()


def _sampler_key(run: Path):  # runtime/sampler.py
    h = hashlib.blake2b(digest_size=8)
    for p in sorted(run.glob("nets/*.safetensors")) + [run / "config.json"]:
        h.update(p.read_bytes())
    return h.hexdigest()


def _file_key(*parts: bytes):  # runtime/classifier.py
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(p)
    return h.hexdigest()


@pytest.fixture
def files(tmp_path):
    """A small file, an empty one, and one over two hash blocks (so block boundaries are crossed)."""
    small = tmp_path / "small.bin"
    small.write_bytes(b"scsampler\n")
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom((2 << 20) + 12345))
    return small, empty, big


def test_digest_of_a_path_equals_the_old_content_hash_and_file_digest(files):
    for f in files:
        assert digest(f, size=16) == _content_hash(f)
        assert digest(str(f), size=16) == _content_hash(f)
        assert digest(f) == _file_digest(f)


def test_digest_of_a_sampler_run_equals_the_old_sampler_key(tmp_path, files):
    run = tmp_path / "run"
    (run / "nets").mkdir(parents=True)
    (run / "nets" / "visual.safetensors").write_bytes(files[2].read_bytes())
    (run / "nets" / "audio.safetensors").write_bytes(b"audio weights")
    (run / "config.json").write_text(json.dumps({"kind": "sampler"}))
    paths = sorted(run.glob("nets/*.safetensors")) + [run / "config.json"]
    assert digest(*paths) == _sampler_key(run)


def test_digest_of_bytes_equals_the_old_file_key(files):
    parts = [f.read_bytes() for f in files]
    assert digest(*parts) == _file_key(*parts)
    assert digest(*files) == _file_key(*parts)  # a path hashes as its content
    assert digest(b"ab", b"c") == digest(b"abc")  # the digest of a sequence is that of its concatenation
    assert digest() == _file_key()


def test_digest_size_is_the_number_of_bytes(files):
    assert len(digest(files[0])) == 16
    assert len(digest(files[0], size=16)) == 32


def test_atomic_writes_write_and_create_parents(tmp_path):
    atomic_write_bytes(tmp_path / "a" / "b" / "x.bin", b"\x00\x01")
    assert (tmp_path / "a" / "b" / "x.bin").read_bytes() == b"\x00\x01"
    atomic_write_text(tmp_path / "t.txt", "é\n")
    assert (tmp_path / "t.txt").read_bytes() == "é\n".encode("utf-8")
    atomic_write_json(tmp_path / "c.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "c.json").read_text() == json.dumps({"b": 1, "a": [1, 2]}, indent=1, sort_keys=True) + "\n"
    atomic_write_json(tmp_path / "d.json", {"b": 1, "a": 2}, indent=None, sort_keys=False)
    assert (tmp_path / "d.json").read_text() == '{"b": 1, "a": 2}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c.json", "d.json", "t.txt"]


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "x.bin", b"1")
    finally:
        os.umask(umask)
    assert (tmp_path / "x.bin").stat().st_mode & 0o777 == 0o644


def test_atomic_write_leaves_the_old_file_and_no_temp_on_error(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic_write_json(target, {"not json": object()})
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_path_replaces_on_success_only(tmp_path):
    target = tmp_path / "sub" / "w.safetensors"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".safetensors" and tmp != target
        tmp.write_bytes(b"new")
        assert not target.exists()
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["w.safetensors"]

    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["w.safetensors"]


def test_atomic_path_tolerates_a_writer_that_never_creates_the_file(tmp_path):
    target = tmp_path / "w.npy"
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.unlink()
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_works_with_a_library_that_checks_the_suffix(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    target = tmp_path / "m.safetensors"
    with atomic_path(target) as tmp:
        save_file({"w": torch.arange(3.0)}, str(tmp))
    assert torch.equal(load_file(str(target))["w"], torch.arange(3.0))
