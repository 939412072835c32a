"""``python -m bayesnet`` runs the command line."""
import sys

from bayesnet.cli.main import main

sys.exit(main())
