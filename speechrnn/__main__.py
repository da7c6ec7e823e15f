"""``python -m speechrnn`` runs the command-line interface."""

from speechrnn.cli import main

raise SystemExit(main())
