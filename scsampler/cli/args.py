"""Small parsers of command-line values shared by the commands and the benchmark scripts."""

from __future__ import annotations


def comma_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the items of a comma-separated option, stripped, empty ones
    left out (None or "" gives none)."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]
