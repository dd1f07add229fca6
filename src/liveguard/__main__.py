import sys

from liveguard.cli import main

sys.exit(main())
