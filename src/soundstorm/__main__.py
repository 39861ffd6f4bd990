import sys

from soundstorm.cli import main

sys.exit(main())
