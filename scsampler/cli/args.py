"""Small parsers of command-line values shared by the commands and the benchmark scripts."""

from __future__ import annotations


def comma_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the items of a comma-separated option, stripped, empty ones
    left out (None or "" gives none)."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def comma_choices(parser, option: str, text: str | None, known, *, allow_empty: bool = False) -> list[str]:
    """The items of a comma-separated option (:func:`comma_list`), each one of ``known``; otherwise
    ``parser.error`` (exits with argparse's usage line) names the unknown ones, or the empty list
    unless ``allow_empty``."""
    items = comma_list(text)
    unknown = [item for item in items if item not in known]
    if unknown or not (items or allow_empty):
        parser.error(f"{option}: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    return items
