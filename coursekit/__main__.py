"""``python -m coursekit COMMAND``: see ``coursekit.cli``."""
import sys

from .cli import main

sys.exit(main())
