"""The values of the scripts' command-line options (train.py, predict.py, evaluate.py), checked as
argparse types, each message naming what was wanted; and the status they exit with on Ctrl-C.
Standard library only."""

import argparse
import math

EXIT_INTERRUPTED = 130  # as a shell reports a command Ctrl-C stopped (128 + SIGINT)


def whole_number_from_1(text):
    """A whole number from 1, written in digits."""
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"must be a whole number from 1, not {text!r}")
    return int(text)


def number(fits, wanted):
    """An argparse type: a finite number for which `fits(value)` holds, else "must be `wanted`"."""

    def checked(text):
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not fits(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}")
        return value

    return checked
