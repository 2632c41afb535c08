"""`python -m api.cli` is `bdp`."""
import sys

from api.cli import main

sys.exit(main())
