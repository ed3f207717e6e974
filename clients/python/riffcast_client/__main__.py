"""``python -m riffcast_client URL``: listen to a station (see ``--help``)."""

import sys

from riffcast_client.cli import main

sys.exit(main(prog="python -m riffcast_client"))
