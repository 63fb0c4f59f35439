"""The ``scsampler`` console script: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import logging
import sys

from scsampler.errors import ScsamplerError
from scsampler.cli import benchmark, demo, extract, generate, import_data, predict, score_dense, train_classifier, train_epitoma, train_sampler
from scsampler.cli import train_listen_to_look

# Each module has ``add_parser(subparsers)``, which registers its subcommand and sets
# ``func`` to a function taking the parsed args and returning an exit status.
SUBCOMMANDS = (generate, import_data, extract, score_dense, train_classifier, train_sampler, train_epitoma, train_listen_to_look, benchmark, predict, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scsampler",
        description="Fast, accurate action recognition in long videos: score every clip cheaply, "
        "classify only the most salient ones (SCSampler, ICCV 2019).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("libav").setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except ScsamplerError as err:
        print(f"scsampler {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"scsampler {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
