"""``python -m openem_client``: the ``openem`` command."""

import sys

from openem_client.cli import main

sys.exit(main())
