import sys

from adapters.cli import main
from adapters.community import UNIT

sys.exit(main(UNIT))
