"""Writing files atomically and hashing content: the package's one copy of each.

Every write goes to a temporary file in the target's folder, is flushed to disk, then renamed over the
target with ``os.replace``, so a reader sees the old file or the new one, never half of one; on an
error the temporary file is removed and the target is left as it was.

``digest`` is the one content hash: blake2b over the items in order. Cache keys and run identities are
made with it, so its output must never change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

_BLOCK = 1 << 20  # 1 MiB: the block size files are hashed in


def _temp_in(path: Path) -> Path:
    """A new, empty temporary file beside ``path`` (same folder, same suffix), hidden by a leading dot.

    Created with mode 0o666 less the umask, as ``open(path, "w")`` would, so the renamed file has the
    permissions of an ordinary one (``tempfile.mkstemp`` would make it 0o600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``).

    Parent folders are created; on an error the temp file is removed and ``path`` is untouched.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically, encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj, *, indent: int | None = 1, sort_keys: bool = True) -> None:
    """Write ``json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\\n"`` to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that wants a file name (e.g. ``safetensors``,
    ``np.save``, ``torch.save``); on normal exit it is renamed to ``path``, on an exception removed.

    The temporary path ends with ``path``'s suffix, so libraries that look at the suffix still work.
    Parent folders are created.
    """
    path = Path(path)
    tmp = _temp_in(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def digest(*items: bytes | str | os.PathLike, size: int = 8) -> str:
    """Hex blake2b digest (``size`` bytes) over ``items`` in order.

    ``bytes`` are hashed as given; a path (``str`` or ``os.PathLike``) is hashed by its file's content,
    read in 1 MiB blocks. The digest of several items is that of their concatenation.
    """
    h = hashlib.blake2b(digest_size=size)
    for item in items:
        if isinstance(item, (bytes, bytearray, memoryview)):
            h.update(item)
            continue
        with open(item, "rb") as f:
            while block := f.read(_BLOCK):
                h.update(block)
    return h.hexdigest()
