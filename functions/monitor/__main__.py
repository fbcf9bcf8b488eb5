"""Allow ``python -m functions.monitor``."""

from functions.monitor.cli import main

raise SystemExit(main())
