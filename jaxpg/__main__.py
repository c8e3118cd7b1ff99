"""``python -m jaxpg``: the command line (`jaxpg.cli`)."""

from jaxpg.cli import main

raise SystemExit(main())
