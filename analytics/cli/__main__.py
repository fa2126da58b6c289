"""`python -m analytics.cli`: the keyfunnel command."""

import sys

from analytics.cli import main

sys.exit(main())
