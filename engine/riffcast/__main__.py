"""``python -m riffcast`` is the ``riffcast`` command."""

import sys

from riffcast.cli import main

sys.exit(main())
