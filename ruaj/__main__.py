"""`python -m ruaj` is the `ruaj` command."""

from ruaj import cli

raise SystemExit(cli.main())
