"""Allow ``python -m mention_monitor``."""

from mention_monitor.cli import main

raise SystemExit(main())
