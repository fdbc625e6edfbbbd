"""Read the four polyphonic benchmarks of Boulanger-Lewandowski et al. (ICML 2012) as piano rolls.

JSB Chorales, Nottingham, MuseData and Piano-midi.de are not MIDI files but a dict
`{"train", "valid", "test"}` of sequences, each a list of time steps, each step the list of MIDI
pitches sounding then. They come as JSON or as the original .pickle files; a pickle can run any
code it names while loading, so it is read with an unpickler that refuses to look up any class or
function.
"""
import json
import numbers
import os
import pickle

import numpy as np

from layout import BENCHMARK_KEYS, BENCHMARK_LOWEST, BENCHMARK_SPLITS

# The four datasets of the paper hold a few hundred thousand time steps at most; 2**21 steps is
# 185 MB of rolls.
MAX_TIME_STEPS = 2 ** 21


class BenchmarkError(ValueError):
    """A benchmark file that cannot be read; the message is one line naming the file."""


class _DataOnlyUnpickler(pickle.Unpickler):
    """Builds dicts, lists, tuples, strings and numbers; anything naming a global is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"it refers to {module}.{name}")


def _read_benchmark_file(path):
    """The raw object in a .json or .pickle/.pkl file.

    Raises:
        BenchmarkError: the file is missing, has another suffix or does not parse.
    """
    if not os.path.isfile(path):
        raise BenchmarkError(f"{path}: no such file; check the path "
                             f"(the benchmarks are .json or .pickle)")
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".json":
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        if suffix in (".pickle", ".pkl"):
            with open(path, "rb") as handle:
                # latin1 so that the str keys of the original Python 2 pickles read as str.
                return _DataOnlyUnpickler(handle, encoding="latin1").load()
    # A damaged pickle can fail in many ways; all of them mean the same thing to the user.
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, OverflowError, MemoryError, RecursionError) as err:
        detail = " ".join(str(err).split()) or type(err).__name__
        raise BenchmarkError(f"{path}: not a benchmark file with only lists, dicts and numbers "
                             f"({detail}); convert it to the JSON form") from None
    raise BenchmarkError(f"{path}: unknown suffix {suffix!r}; use a .json, .pickle or .pkl file")


def _is_pitch(value):
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and BENCHMARK_LOWEST <= value < BENCHMARK_LOWEST + BENCHMARK_KEYS)


def _piano_roll(path, where, sequence):
    """One sequence (a list of steps, each a list of pitches) as a uint8 roll `[T, 88]`.

    Raises:
        BenchmarkError: the sequence or a step is not a list, or a step holds a non-pitch.
    """
    if not isinstance(sequence, (list, tuple)):
        raise BenchmarkError(f"{path}: {where} is a {type(sequence).__name__}, not a list of "
                             f"time steps; the file is not in the benchmark format")
    roll = np.zeros((len(sequence), BENCHMARK_KEYS), dtype=np.uint8)
    for t, step in enumerate(sequence):
        if not isinstance(step, (list, tuple)):
            raise BenchmarkError(f"{path}: {where}, step {t} is a {type(step).__name__}, not a "
                                 f"list of pitches; the file is not in the benchmark format")
        bad = [p for p in step if not _is_pitch(p)]
        if bad:
            raise BenchmarkError(f"{path}: {where}, step {t} holds {bad[0]!r}, not a MIDI pitch "
                                 f"in {BENCHMARK_LOWEST}..{BENCHMARK_LOWEST + BENCHMARK_KEYS - 1}; "
                                 f"fix or drop that step")
        roll[t, [p - BENCHMARK_LOWEST for p in step]] = 1
    return roll


def _check_size(path, data):
    """Refuses a file whose splits hold more time steps than `MAX_TIME_STEPS`, counted before any
    roll is allocated: a pickle can repeat one list by reference, so a small file can stand for
    an enormous one."""
    steps = sum(len(s) if isinstance(s, (list, tuple)) else 0
                for split in BENCHMARK_SPLITS for s in data[split])
    if steps > MAX_TIME_STEPS:
        raise BenchmarkError(f"{path}: {steps:,} time steps, more than the {MAX_TIME_STEPS:,} "
                             f"this reader allows (the paper's largest dataset has well under a "
                             f"million); is the file what it should be?")


def load_benchmark(path):
    """Read a polyphonic benchmark (JSB Chorales, Nottingham, MuseData, Piano-midi.de).

    Args:
        path: a `.json` file or an original `.pickle`/`.pkl`. Pickles may hold only dicts, lists,
            tuples, strings and numbers.

    Returns:
        `{"train": rolls, "valid": rolls, "test": rolls}`, each a list (file order) of `np.uint8`
        arrays `[T_i, 88]`; column `c` is MIDI pitch `c + 21`. An empty step is a row of zeros.
        Other keys in the file are ignored.

    Raises:
        BenchmarkError: a missing or unparsable file, a pickle naming any class or function, a
            missing split, or an entry that is not a list of lists of pitches 21..108.
    """
    data = _read_benchmark_file(path)
    if not isinstance(data, dict):
        raise BenchmarkError(f"{path}: holds a {type(data).__name__}, not a dict of splits; "
                             f"expected keys {', '.join(BENCHMARK_SPLITS)}")
    missing = [split for split in BENCHMARK_SPLITS if split not in data]
    if missing:
        raise BenchmarkError(f"{path}: no {', '.join(missing)} split; expected keys "
                             f"{', '.join(BENCHMARK_SPLITS)}")
    for split in BENCHMARK_SPLITS:
        if not isinstance(data[split], (list, tuple)):
            raise BenchmarkError(f"{path}: split {split!r} is a {type(data[split]).__name__}, "
                                 f"not a list of sequences; the file is not in the benchmark "
                                 f"format")
    _check_size(path, data)
    rolls = {}
    for split in BENCHMARK_SPLITS:
        rolls[split] = [_piano_roll(path, f"sequence {i} of {split!r}", sequence)
                        for i, sequence in enumerate(data[split])]
    return rolls
