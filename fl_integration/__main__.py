"""``python -m fl_integration`` runs the demo."""

import sys

from .demo import main

sys.exit(main())
