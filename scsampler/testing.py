"""Helpers shared by the test suite and the benchmarks that stress the package (not used by it).

``mutate`` damages a media file's bytes the way the ingest fuzzers do: the hypothesis test in
``tests/features/test_ingest_fuzz.py`` and the long recorded run in ``benchmarks/fuzz_ingest.py``.
"""

from __future__ import annotations


def mutate(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    """Apply ``(op, where, payload)`` edits in turn; ``where`` in [0, 1) is a position as a share of
    the current length, ``payload`` the bytes to insert, write or XOR (its length: how many to
    delete). ``op`` is ``flip``, ``insert``, ``delete``, ``truncate`` or anything else (overwrite)."""
    out = bytearray(data)
    for op, where, payload in edits:
        if not out:
            break
        i = min(int(where * len(out)), len(out) - 1)
        if op == "flip":
            for j, b in enumerate(payload[: len(out) - i]):
                out[i + j] ^= b
        elif op == "insert":
            out[i:i] = payload
        elif op == "delete":
            del out[i : i + len(payload)]
        elif op == "truncate":
            del out[i:]
        else:
            out[i : i + len(payload)] = payload[: len(out) - i]
    return bytes(out)
