"""Command-line plumbing shared by the ``bayesnet`` command and the scripts in ``scripts/``."""
from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["EXIT_USAGE", "EXIT_INTERRUPTED", "ArgumentParser", "positive_int", "non_negative_int"]

#: exit status for bad input, as argparse uses for usage errors
EXIT_USAGE = 2
#: exit status after Ctrl-C (128 + SIGINT, as a shell reports it)
EXIT_INTERRUPTED = 130

#: the help of an evidence argument
EVIDENCE_HELP = ("evidence: node=state, node=a,b (one of these states), node!=a (not this state) or "
                 "node=0.2,0.8 (a likelihood per state), e.g. fluid_fluid_levels=present")


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on standard error and exit status 2."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n(see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    return _whole(text, minimum=1, words="a positive whole number")


def non_negative_int(text: str) -> int:
    """argparse type: a whole number of at least 0 (a seed, for example)."""
    return _whole(text, minimum=0, words="a non-negative whole number")


def _whole(text: str, minimum: int, words: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}")
    return value
