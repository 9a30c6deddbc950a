import sys

from dpdsl.cli import main

sys.exit(main())
