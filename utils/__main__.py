"""`python -m utils` is the `beauty` command."""

import sys

from utils.cli import main

sys.exit(main())
