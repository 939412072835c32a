"""The ``bayesnet`` command line: :mod:`.main` builds the parser and runs the commands; the score,
explain and next commands have modules of their own; :mod:`.arguments` holds the shared plumbing."""
from bayesnet.cli.main import main

__all__ = ["main"]
