"""Shared pieces of the benchmarks: the two settings, their data, and what the machine can do.

The benchmarks are run from the repository root (`python benchmarks/bench_train.py`); this module
puts the root on the import path so that they use the repository's own model code, and loads
TensorFlow through `quiet_tensorflow` so that its start-up lines stay out of the figures.
"""
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import quiet_tensorflow  # noqa: E402, F401  (before TensorFlow, once the root is on the path)

import tensorflow as tf  # noqa: E402

import data  # noqa: E402
import layout  # noqa: E402
import rnn_rbm  # noqa: E402

# The paper's JSB Chorales file, where the shared data sits beside the repository.
JSB_PATH = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "jsb_chorales.json"))
DATASETS_URL = "http://www-etud.iro.umontreal.ca/~boulanni/icml2012"  # the paper's pickles
POP_DIR = os.path.join(ROOT, layout.MIDI_DIR)
SETTINGS = ("jsb", "pop", "both")
PEAK_MATMUL_SIZE = 2048  # square float32 matmul whose speed stands for the machine's peak
PEAK_MATMUL_REPEATS = 5  # best of this many timed runs


def add_data_flags(parser):
    """Adds `--setting`, `--jsb` and `--midi-dir` to an `argparse` parser."""
    parser.add_argument("--setting", choices=SETTINGS, default="both",
                        help="jsb: the paper's setting on the JSB Chorales train split; pop: the "
                             "default hyperparameters on the MIDI files of --midi-dir; both: one "
                             "after the other (default %(default)s)")
    parser.add_argument("--jsb", default=JSB_PATH,
                        help="JSB Chorales in the paper's format, .json or .pickle; its train "
                             "split is used (default %(default)s)")
    parser.add_argument("--midi-dir", default=POP_DIR,
                        help="folder of .mid files for the pop setting (default %(default)s)")


def check_sources(args):
    """Stops with one line naming the path when the JSB Chorales file is asked for but missing,
    before any time is spent measuring."""
    if args.setting in ("jsb", "both") and not os.path.isfile(args.jsb):
        raise SystemExit(f"error: {args.jsb}: JSB Chorales not found; the paper's datasets are at "
                         f"{DATASETS_URL} (pickles; .json or .pickle are read), pass --jsb")


def _load(hparams, **source):
    """`data.load_songs` with its one-line errors turned into an exit."""
    try:
        return data.load_songs(hparams, **source)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None


def settings(args):
    """Yields `(name, hparams, songs)` for the settings asked for on the command line, loading
    each setting's songs only when it is reached."""
    check_sources(args)
    if args.setting in ("jsb", "both"):
        hparams = rnn_rbm.paper_hparams()  # 88 keys, one chord per RBM vector
        yield "paper setting, JSB Chorales train", hparams, _load(hparams, dataset=args.jsb)
    if args.setting in ("pop", "both"):
        hparams = rnn_rbm.HParams()
        yield f"default setting, {args.midi_dir}", hparams, _load(hparams, midi_dir=args.midi_dir)


def peak_matmul_gflops():
    """GFLOP/s of a large square float32 matmul in this process: the yardstick for the rest."""
    n = PEAK_MATMUL_SIZE
    a = tf.random.normal([n, n])
    matmul = tf.function(lambda x: tf.reduce_sum(tf.matmul(x, x)))
    matmul(a).numpy()
    best = float("inf")
    for _ in range(PEAK_MATMUL_REPEATS):
        start = time.perf_counter()
        matmul(a).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


def peak_rss_gib():
    """Peak resident set size of this process so far (`getrusage` `ru_maxrss`, KiB on Linux), in
    GiB.

    It covers everything the process holds: the TensorFlow runtime, the data and every tensor.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2.0 ** 20
