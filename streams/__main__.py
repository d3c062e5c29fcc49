"""``python -m streams`` is the ``qloop`` command."""

from streams.cli import main

main()
