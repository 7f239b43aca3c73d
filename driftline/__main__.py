"""``python -m driftline`` is the ``driftline`` command."""

import sys

from driftline.cli import main

sys.exit(main())
