"""``python -m bot`` is ``threadline``."""

import sys

from bot.cli import main

sys.exit(main())
