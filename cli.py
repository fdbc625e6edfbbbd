"""What the scripts share on the command line: value checks for flags and quiet progress bars.

Every flag is checked as it is parsed, so a bad value stops the script with one line naming the
flag and what is allowed, before any work is done.
"""
import argparse
import math
import sys

from tqdm import tqdm

import data
import layout
import midi_manipulation


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line, `prog: error: ...`, without the usage
    block, and exit with status 2 as argparse's do."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the flags)\n")


def _number(kind, text, low, low_inclusive=True, high=None):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number")
    too_low = value < low if low_inclusive else value <= low
    if too_low or (high is not None and value >= high):
        bound = f"at least {low}" if low_inclusive else f"above {low}"
        if high is not None:
            bound += f" and below {high}"
        raise argparse.ArgumentTypeError(f"{text}: it must be {bound}")
    return value


def checkpoint_path(text):
    """A path TensorFlow's checkpoints can use: valid UTF-8, without `*`, `?`, `[` or `]`, which
    its checkpoint reader takes as a file pattern (a folder `runs/exp[1]` would never read back)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid UTF-8, which TensorFlow's "
                                         f"checkpoints need; pick another path") from None
    pattern = sorted(set(text) & set("*?[]"))
    if pattern:
        raise argparse.ArgumentTypeError(f"{text}: holds {' '.join(pattern)}, which TensorFlow's "
                                         f"checkpoint reader takes as a pattern; pick a path "
                                         f"without them")
    return text


def positive_int(text):
    """A whole number of at least 1."""
    return _number(int, text, 1)


def non_negative_int(text):
    """A whole number of at least 0."""
    return _number(int, text, 0)


def positive_float(text):
    """A finite number above 0."""
    return _number(float, text, 0.0, low_inclusive=False)


def share(text):
    """A finite number in [0, 1)."""
    return _number(float, text, 0.0, high=1.0)


def last_step(text):
    """The temperature of a generated vector's last visible step: `sample` (1, a plain draw),
    `mode` (0, the most probable notes) or a number in between, which tempers the unlikely
    notes only (`RBM.RBM.sample`)."""
    named = {"sample": 1.0, "mode": 0.0}
    if text in named:
        return named[text]
    value = _number(float, text, 0.0)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text}: give sample, mode or a temperature from 0 to 1")
    return value


def progress(iterable, **kwargs):
    """`tqdm(iterable)` that draws only on a terminal, so a log file gets no carriage returns."""
    return tqdm(iterable, disable=not sys.stderr.isatty(), **kwargs)


def add_midi_limits(parser):
    """`--max-frames` and `--max-silent-frames`: how long a MIDI file and its silences may be
    before the reader refuses it as damaged (see `midi_manipulation.MAX_FRAMES`)."""
    parser.add_argument("--max-frames", type=positive_int, default=midi_manipulation.MAX_FRAMES,
                        help="refuse MIDI files longer than this many 16th notes "
                             "(default %(default)s, hours of music)")
    parser.add_argument("--max-silent-frames", type=positive_int,
                        default=midi_manipulation.MAX_SILENT_FRAMES,
                        help="refuse MIDI files silent for longer than this many 16th notes "
                             "(default %(default)s, minutes)")


def add_key_flag(parser, default=layout.KEY):
    """`--key`: whether MIDI songs are moved to C before training (`data.to_c`)."""
    parser.add_argument("--key", choices=data.KEYS, default=default,
                        help="c: move each MIDI song by at most 6 semitones so that its key is C "
                             "major or A minor; as-is: leave it (the original's) "
                             "(default %(default)s)")


def midi_limits(args):
    """The keyword arguments of `midi_manipulation.get_songs` that `add_midi_limits` set."""
    return dict(max_frames=args.max_frames, max_silent_frames=args.max_silent_frames)


def add_fitting_flags(parser, lr, k, epochs=None, batch_size=None, batch_unit="vectors",
                      k_note=""):
    """`--epochs` (when `epochs` is given), `--batch-size` (when `batch_size` is), `--lr` and
    `--k`: how a script that fits a model makes its updates, with these defaults (`k` None: the
    script sets it after parsing, and `k_note` says to what)."""
    if epochs is not None:
        parser.add_argument("--epochs", type=positive_int, default=epochs,
                            help="passes over the songs (default %(default)s)")
    if batch_size is not None:
        parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                            help=f"{batch_unit} per update (default %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=lr,
                        help="learning rate (default %(default)s)")
    default = "" if k is None else " (default %(default)s)"  # None: the script fills it in
    parser.add_argument("--k", type=positive_int, default=k,
                        help=f"Gibbs steps of CD-k in training{default}{k_note}")


def add_listening_flags(parser):
    """`--png` and `--wav`: a piano-roll image and audio beside each MIDI file written."""
    parser.add_argument("--png", action="store_true",
                        help="also write a piano-roll image of each song (<name>.png)")
    parser.add_argument("--wav", action="store_true",
                        help="also render each song to audio (<name>.wav) with the fluidsynth "
                             "program and a General MIDI soundfont (SOUNDFONT=path picks one)")
