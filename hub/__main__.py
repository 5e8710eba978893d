"""``python -m hub`` is the ``skyhub`` command."""

import sys

from hub.cli import main

sys.exit(main())
