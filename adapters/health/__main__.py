import sys

from adapters.cli import main
from adapters.health import UNIT

sys.exit(main(UNIT))
