"""``python -m streams.bench``: run the benchmark from the command line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from streams.bench.runner import run_bench


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m streams.bench [--quick] [--json] [--markdown FILE]`` (until the CLI has it)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m streams.bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    out = run_bench(args.quick, args.json)
    text = json.dumps(out, indent=2, default=str)
    if args.json:
        print(text)  # noqa: T201 - the command's output
    if args.save:
        args.save.write_text(text)


__all__ = ["main"]

if __name__ == "__main__":
    main()
