"""`python -m screenrec` runs the CLI."""

from screenrec.cli import main

main()
