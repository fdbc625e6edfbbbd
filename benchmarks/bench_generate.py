"""Generation speed of the RNN-RBM: several songs sampled at once by one traced sampler.

    python benchmarks/bench_generate.py                     # both settings
    python benchmarks/bench_generate.py --setting pop --midi-dir some/folder/of/midis

For each setting it primes `--songs` sequences with the first `--primer` vectors of songs from the
data, then times `make_sampler(model)(steps, primer)` with `--k` Gibbs steps per vector, after one
untimed call that traces it. The model is untrained: speed does not depend on the weights.
"""
import argparse
import dataclasses
import time

import numpy as np
import tensorflow as tf

import common
import rnn_rbm

DEFAULTS = dict(
    songs=10,    # sequences generated together
    steps=300,   # vectors generated per sequence
    k=25,        # Gibbs steps per generated vector
    primer=8,    # vectors of real music each sequence starts from
    repeats=3,   # timed calls; the best is reported
)


def primers(songs, count, length):
    """`[count, length, n_visible]`: the opening of `count` songs, reused in turn if there are fewer."""
    usable = [s for s in songs if len(s) >= length] or songs
    return np.stack([usable[i % len(usable)][:length] for i in range(count)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_data_flags(parser)
    for name, value in DEFAULTS.items():
        parser.add_argument("--" + name, type=int, default=value)
    args = parser.parse_args()

    for name, hparams, songs in common.settings(args):
        hparams = dataclasses.replace(hparams, k_generate=args.k)
        model = rnn_rbm.RnnRbm(hparams, seed=0)
        sampler = rnn_rbm.make_sampler(model)
        primer = tf.constant(primers(songs, args.songs, args.primer))
        steps = tf.constant(args.steps)
        start = time.perf_counter()
        sampler(steps, primer).numpy()
        first = time.perf_counter() - start
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            sampler(steps, primer).numpy()
            best = min(best, time.perf_counter() - start)
        frames = args.songs * args.steps
        print("{}: n_visible={} n_hidden={}; {} songs x {} steps x {} Gibbs steps".format(
            name, hparams.n_visible, hparams.n_hidden, args.songs, args.steps, args.k))
        print("  {:.3f} s after tracing (best of {}), {:,.0f} frames/s; first call with tracing "
              "{:.2f} s; peak memory (ru_maxrss) {:.2f} GiB".format(
                  best, args.repeats, frames / best, first, common.peak_rss_gib()))


if __name__ == "__main__":
    main()
