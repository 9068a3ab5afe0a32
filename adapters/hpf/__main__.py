import sys

from adapters.cli import main
from adapters.hpf import UNIT

sys.exit(main(UNIT))
