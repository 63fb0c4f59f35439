import sys

from scsampler.cli.main import main

sys.exit(main())
