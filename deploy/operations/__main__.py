"""`python -m deploy.operations` is `stax` (how `stax-local ops` runs it)."""

from deploy.operations.cli import main

main()
