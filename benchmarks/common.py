"""Shared pieces of the benchmarks: the two settings, their data, and what the machine can do.

The benchmarks are run from the repository root (`python benchmarks/bench_train.py`); this module
puts the root on the import path so that they use the repository's own model code.
"""
import os
import resource
import sys
import time


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402  (after the log level is set)

import rnn_rbm  # noqa: E402

JSB_PATH = os.path.join(ROOT, "..", "shared", "data", "jsb_chorales.json")
POP_DIR = os.path.join(ROOT, "Pop_Music_Midi")
# The paper's setting: 88 piano keys, one quarter-note frame per RBM vector, CD-15.
PAPER_HPARAMS = rnn_rbm.paper_hparams()
PEAK_MATMUL_SIZE = 2048  # square float32 matmul whose speed stands for the machine's peak
PEAK_MATMUL_REPEATS = 5  # best of this many timed runs


def add_data_flags(parser):
    parser.add_argument("--setting", choices=["jsb", "pop", "both"], default="both",
                        help="jsb: the paper's setting on JSB Chorales; pop: the default HParams on "
                             "the MIDI files of --midi-dir; both: one after the other")
    parser.add_argument("--jsb", default=JSB_PATH, help="JSB Chorales JSON (train split is used)")
    parser.add_argument("--midi-dir", default=POP_DIR,
                        help="folder of .mid files for the pop setting")


def jsb_songs(path, hparams):
    """The train split of the JSB Chorales file as float32 piano rolls `[T, n_visible]`."""
    if not os.path.exists(path):
        raise SystemExit("{}: JSB Chorales JSON not found; pass --jsb".format(path))
    return rnn_rbm.load_songs(hparams, dataset=path)


def settings(args):
    """Yields `(name, hparams, songs)` for the settings asked for on the command line."""
    if args.setting in ("jsb", "both"):
        yield "paper setting, JSB Chorales train", PAPER_HPARAMS, jsb_songs(args.jsb, PAPER_HPARAMS)
    if args.setting in ("pop", "both"):
        hparams = rnn_rbm.HParams()
        yield "default setting, {}".format(args.midi_dir), hparams, rnn_rbm.load_songs(hparams, midi_dir=args.midi_dir)


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
    """Peak resident set size of this process so far (getrusage ru_maxrss, KiB on Linux), in GiB.

    It covers everything the process holds: the TensorFlow runtime, the data and every tensor.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2.0 ** 20
