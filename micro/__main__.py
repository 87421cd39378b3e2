"""Command line entry: ``python -m micro`` runs the same program as ``micro``."""

from micro.cli import main

raise SystemExit(main())
