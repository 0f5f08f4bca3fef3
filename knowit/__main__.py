import sys

from knowit.cli import main

sys.exit(main())
