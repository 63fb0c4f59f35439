"""`scsampler generate` (placeholder until it lands)."""


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate (not yet implemented)")
    p.set_defaults(func=lambda args: 1)
