"""``python -m tracehop``: the same command line as the ``tracehop`` script."""

from tracehop.cli import main

main()
