"""``python -m riffcast`` is the ``riffcast`` command."""

import sys

try:
    from riffcast.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line itself is imported: nothing has run
    sys.exit(130)

sys.exit(main())
