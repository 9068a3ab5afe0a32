import sys

from adapters.cli import main
from adapters.medical import UNIT

sys.exit(main(UNIT))
