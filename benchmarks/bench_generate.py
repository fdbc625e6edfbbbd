"""Generation speed of the RNN-RBM: several songs sampled at once by one traced sampler.

    python benchmarks/bench_generate.py                     # both settings
    python benchmarks/bench_generate.py --setting pop --midi-dir some/folder/of/midis

For each setting it primes `--songs` sequences with the first `--primer` vectors of songs from the
data, then times `rnn_rbm.make_sampler(model, k)(steps, primer)` with `--k` Gibbs steps per
vector, after one untimed call that traces it. The model is untrained: speed does not depend on
the weights.
"""
import time

import common  # first: puts the repository on the path and loads TensorFlow quietly
import numpy as np
import tensorflow as tf

import cli
import layout
import rnn_rbm

# Defaults.
SONGS = 10     # sequences generated together
STEPS = 300    # vectors generated per sequence
PRIMER = 8     # vectors of real music each sequence starts from
REPEATS = 3    # timed calls; the best is reported


def primers(songs, count, length):
    """`[count, length, n_visible]`: the opening of `count` songs, reused in turn if there are
    fewer."""
    usable = [s for s in songs if len(s) >= length] or songs
    return np.stack([usable[i % len(usable)][:length] for i in range(count)])


def time_sampler(sampler, steps, primer, repeats):
    """`(best, first)`: seconds of the fastest of `repeats` calls, and of the first call, which
    traces the sampler."""
    start = time.perf_counter()
    sampler(steps, primer).numpy()
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        sampler(steps, primer).numpy()
        best = min(best, time.perf_counter() - start)
    return best, first


def parse_args():
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_flags(p)
    sampling = p.add_argument_group("what is sampled")
    sampling.add_argument("--songs", type=cli.positive_int, default=SONGS,
                          help="sequences generated together (default %(default)s)")
    sampling.add_argument("--steps", type=cli.positive_int, default=STEPS,
                          help="vectors generated per sequence (default %(default)s)")
    sampling.add_argument("--k", type=cli.positive_int, default=layout.K_GENERATE,
                          help="Gibbs steps per generated vector (default %(default)s)")
    sampling.add_argument("--primer", type=cli.non_negative_int, default=PRIMER,
                          help="vectors of real music each sequence starts from "
                               "(default %(default)s)")
    p.add_argument("--repeats", type=cli.positive_int, default=REPEATS,
                   help="timed calls; the best is reported (default %(default)s)")
    return p.parse_args()


def main():
    args = parse_args()
    for name, hparams, songs in common.settings(args):
        model = rnn_rbm.RnnRbm(hparams, seed=0)
        sampler = rnn_rbm.make_sampler(model, args.k)
        primer = tf.constant(primers(songs, args.songs, args.primer))
        best, first = time_sampler(sampler, tf.constant(args.steps), primer, args.repeats)
        frames = args.songs * args.steps
        print(f"{name}: n_visible={hparams.n_visible} n_hidden={hparams.n_hidden}; "
              f"{args.songs} songs x {args.steps} steps x {args.k} Gibbs steps")
        print(f"  {best:.3f} s after tracing (best of {args.repeats}), {frames / best:,.0f} "
              f"frames/s; first call with tracing {first:.2f} s; peak memory (ru_maxrss) "
              f"{common.peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
