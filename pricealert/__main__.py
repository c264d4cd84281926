"""``python -m pricealert``: the same as the ``pricealert`` command."""

import sys

from pricealert.cli import main

sys.exit(main())
