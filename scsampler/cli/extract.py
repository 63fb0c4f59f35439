"""`scsampler extract` (placeholder until it lands)."""


def add_parser(sub) -> None:
    p = sub.add_parser("extract", help="extract (not yet implemented)")
    p.set_defaults(func=lambda args: 1)
