"""Training speed of the RNN-RBM: batched, and song at a time as the original repository did.

    python benchmarks/bench_train.py                        # both settings
    python benchmarks/bench_train.py --setting jsb          # the paper's setting on JSB Chorales
    python benchmarks/bench_train.py --setting pop --midi-dir some/folder/of/midis

For each setting it prints frames per second and seconds per epoch of (a) batched training, many
sequences per step padded to a common length with a mask, and (b) one sequence per step in
chunks of at most `--chunk` vectors, as the original repository's loop; each with the compiled
CD chain that training uses and with a chain on TensorFlow-drawn noise (`RBM.uniform_noise`, the
chain before the compiled one, kept here as a yardstick); then the ratio of (a) to the faster
(b), the useful GFLOP/s of each against a large matmul measured in the same process, the peak
memory, where each loop's time goes, and the time a frame (a) would need to be 8 times (b) beside
what the chain's matmuls and the RNN alone take in (a).
All runs use the same model code and one traced step each (the step's `input_signature` has
`None` for batch and time, so no length re-traces).
"""
import os
import time

import common  # first: puts the repository on the path and loads TensorFlow quietly
import numpy as np
import tensorflow as tf

import cli
import layout
import RBM
import rnn_rbm
import training

# Defaults.
BATCH_SIZE = 64        # sequences (chunks) per batched step
CHUNK = 100            # longest sequence a step sees, in RBM vectors; longer songs are cut
EPOCHS = 3             # timed epochs of batched training (one more, untimed, traces it)
SONG_EPOCHS = 1        # timed epochs of the song-at-a-time loop
OPTIMIZER = "adam"     # 'adam' or 'sgd'
LEARNING_RATE = 1e-3   # step size
GRAD_CLIP = 10.0       # elementwise gradient clipping, as `rnn_rbm_train.py`
TARGET_RATIO = 8.0     # batched over song-at-a-time speed that the floor line checks


def macs_per_frame(hparams, k):
    """Multiply-adds one real frame costs in a training step with CD-`k` (elementwise work not
    counted).

    Gibbs chain: k steps of v W and h W^T. Free energies of the data and of the sample: v W each,
    and the same again in the backward pass for dF/dW. RNN: v Wvu, u Wuu, u Wuv, u Wuh forward;
    backward, one product for each weight gradient plus one for the gradient reaching u (not for
    Wvu, whose input v is data).
    """
    v, h, u = hparams.n_visible, hparams.n_hidden, hparams.n_hidden_recurrent
    chain = k * 2 * v * h
    free_energies = 2 * v * h + 2 * v * h
    rnn_forward = v * u + u * u + u * v + u * h
    rnn_backward = v * u + 2 * (u * u + u * v + u * h)
    return chain + free_energies + rnn_forward + rnn_backward


def make_drawn_noise_step(model, optimizer, k, grad_clip):
    """`training.make_train_step` with the CD chain on TensorFlow-drawn noise instead of the
    compiled chain: the uniforms come from `RBM.uniform_noise` and the chain runs as separate
    kernels, unrolled over its `k` steps. Only the benchmark uses it, to time the compiled chain
    against it; it has no dropout.

    Returns:
      `train_step(v [batch, time, n_visible], mask [batch, time]) -> cost` (a scalar tensor).
    """
    hp = model.hparams
    variables = model.trainable_variables

    @tf.function(input_signature=training.batch_signature(hp.n_visible))
    def train_step(v, mask):
        real = tf.cast(tf.math.count_nonzero(mask > 0.5), tf.int32)  # N, the chain's rows
        noise = RBM.uniform_noise(k, real, hp.n_hidden, hp.n_visible)
        return training.clipped_update(
            optimizer, variables, lambda: model.training_cost(v, mask, k, noise=noise), grad_clip)

    return train_step


def new_step(hparams, args, drawn_noise=False):
    """A fresh model and its traced training step: `(model, step)`."""
    model = rnn_rbm.RnnRbm(hparams, seed=0)
    optimizer = training.make_optimizer(args.optimizer, model.trainable_variables,
                                        args.learning_rate)
    make = make_drawn_noise_step if drawn_noise else training.make_train_step
    return model, make(model, optimizer, args.k, grad_clip=GRAD_CLIP)


def run_epochs(step, batches, epochs):
    """Seconds per epoch of `step` over `batches`, after one untimed epoch that traces it."""
    for v, mask in batches:
        step(v, mask)
    start = time.perf_counter()
    for _ in range(epochs):
        for v, mask in batches:
            cost = step(v, mask)
    cost.numpy()  # waits for the last step
    return (time.perf_counter() - start) / epochs


def best_seconds(fn, repeats=5):
    """Fastest of `repeats` timed calls of `fn` (which must wait for its result), after one
    untimed."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@tf.function(jit_compile=True)
def _chain_matmuls_only(v, W, bv, bh, k):
    """The chain's two matmuls per step with no sigmoid and no sampling: what its matmuls cost."""
    def step(i, x):
        return i + 1, tf.matmul(tf.matmul(x, W) + bh, W, transpose_b=True) + bv
    return tf.while_loop(lambda i, _: i < k, step, (tf.constant(0), v))[1]


def profile_batched_step(hparams, args, v, mask):
    """Seconds of one batched step and of its parts, on one batch: the CD chain (as training runs
    it), the chain's matmuls alone, and the RNN's forward and backward pass.

    Returns:
      `(parts, real)`: a dict of seconds by part, and the number of real frames in the batch.
    """
    model, step = new_step(hparams, args)
    W = model.distribution.W
    frames, (bv_t, bh_t) = model.frames_and_biases(v, mask)
    real = frames.shape[0]
    rows = int(RBM.padded_rows(real))  # the compiled chain pads its rows the same way
    padded = [tf.pad(x, [[0, rows - real], [0, 0]]) for x in (frames, bv_t, bh_t)]
    k = tf.constant(args.k)

    @tf.function
    def rnn_pass(v):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(model.rnn_states(v))
        return tape.gradient(total, [model.Wuu, model.Wvu, model.bu, model.u0])

    return {
        "whole step": best_seconds(lambda: step(v, mask).numpy()),
        "CD chain": best_seconds(
            lambda: RBM.gibbs_chain(frames, W, bv_t, bh_t, args.k).numpy()),
        "its matmuls alone": best_seconds(
            lambda: _chain_matmuls_only(padded[0], W, padded[1], padded[2], k).numpy()),
        "RNN forward+backward": best_seconds(lambda: [g.numpy() for g in rnn_pass(v)]),
    }, real


def time_loops(hparams, args, batched, one_by_one):
    """Times the four loops.

    Returns:
      `(seconds, song_step, rss)`: seconds per epoch by label, the song loop's step with the
      compiled chain (for `song_loop_breakdown`), and the peak memory in GiB after batched training.
    """
    seconds = {"batched": run_epochs(new_step(hparams, args)[1], batched, args.epochs)}
    rss = common.peak_rss_gib()
    seconds["batched, TF-drawn noise"] = run_epochs(
        new_step(hparams, args, drawn_noise=True)[1], batched, args.epochs)
    # The song loop is timed with both chains and compared with the faster: one sequence's chain
    # is small, and the compiled chain's per-call cost may not pay off there.
    _, song_step = new_step(hparams, args)
    seconds["song-at-a-time"] = run_epochs(song_step, one_by_one, args.song_epochs)
    seconds["song, TF-drawn noise"] = run_epochs(
        new_step(hparams, args, drawn_noise=True)[1], one_by_one, args.song_epochs)
    return seconds, song_step, rss


def print_speeds(seconds, frames, flop, peak):
    """One line per loop, then how the chains and the loops compare; returns the faster song
    loop's seconds per epoch."""
    for label, s in seconds.items():
        gflops = flop / s / 1e9
        print(f"  {label:<24} {frames / s:>9,.0f} frames/s  {s:7.3f} s/epoch  "
              f"{gflops:5.1f} GFLOP/s = {gflops / peak:4.0%} of peak")
    print(f"  compiled chain / TF-drawn noise: "
          f"{seconds['batched, TF-drawn noise'] / seconds['batched']:.2f}x batched, "
          f"{seconds['song, TF-drawn noise'] / seconds['song-at-a-time']:.2f}x song at a time")
    song_s = min(seconds["song-at-a-time"], seconds["song, TF-drawn noise"])
    print(f"  ratio batched / faster song-at-a-time loop: {song_s / seconds['batched']:.1f}x")
    return song_s


def song_loop_breakdown(song_step, pieces, frames, song_s, batch_s):
    """Prints where the song loop's time goes: a step's cost that does not grow with its frames
    (launching the step's kernels, the optimizer update over every weight) against the work per
    frame, read off a 1-frame and a full-length step."""
    longest = max(pieces, key=len)
    # (run_epochs over a one-batch "epoch" repeated N times gives the mean seconds per call.)
    one_frame = run_epochs(song_step, [(longest[np.newaxis, :1], np.ones([1, 1], np.float32))],
                           100)
    whole = run_epochs(song_step, [(longest[np.newaxis], np.ones([1, len(longest)], np.float32))],
                       30)
    per_frame = (whole - one_frame) / (len(longest) - 1)
    steps = len(pieces)
    print(f"  song loop: {steps} steps of {1e3 * one_frame:.2f} ms fixed + "
          f"{1e6 * per_frame:.1f} us a frame = {steps * one_frame:.2f} s + "
          f"{frames * per_frame:.2f} s per epoch (measured {song_s:.2f} s); "
          f"batched: {1e6 * batch_s / frames:.1f} us a frame")


def floor_check(hparams, args, batched, frames, song_s):
    """Profiles the batched step on its largest batch and prints the time a frame it would need
    to be `TARGET_RATIO` times the song loop, beside the two parts of it that no change to the
    rest of the step removes. The largest batch is the cheapest a frame, so the floor is low."""
    v, mask = max(batched, key=lambda b: b[1].sum())
    parts, real = profile_batched_step(hparams, args, v, mask)
    listed = ", ".join(f"{name} {1e3 * s:.1f}" for name, s in parts.items())
    print(f"  batched step on its largest batch ({v.shape[0]} sequences x {v.shape[1]} steps, "
          f"{real} real frames), ms: {listed}")
    needed = song_s / frames / TARGET_RATIO
    floor = (parts["its matmuls alone"] + parts["RNN forward+backward"]) / real
    verdict = "out of reach with these kernels" if floor > needed else "not ruled out by them"
    print(f"  {TARGET_RATIO:g}x the song loop needs the batched step at {1e6 * needed:.1f} us a "
          f"frame; the chain's matmuls and the RNN alone take {1e6 * floor:.1f} us a frame on the "
          f"largest batch: {verdict}")


def bench_setting(name, hparams, songs, args, peak):
    """Times and prints every figure of one setting."""
    pieces = training.split_into_chunks(songs, args.chunk)
    frames = sum(len(p) for p in pieces)
    flop = 2.0 * macs_per_frame(hparams, args.k) * frames
    batched = list(training.batches(pieces, args.batch_size))
    one_by_one = [(p[np.newaxis], np.ones([1, len(p)], np.float32)) for p in pieces]
    padded = sum(v.shape[0] * v.shape[1] for v, _ in batched)
    print(f"{name}: {len(songs)} songs, {frames} frames, n_visible={hparams.n_visible} "
          f"n_hidden={hparams.n_hidden} k={args.k}, {flop / frames / 1e6:.2f} MFLOP a frame")
    print(f"  batched: {len(batched)} steps of up to {args.batch_size} sequences, "
          f"{1.0 - frames / padded:.1%} padding")
    seconds, song_step, rss = time_loops(hparams, args, batched, one_by_one)
    song_s = print_speeds(seconds, frames, flop, peak)
    print(f"  peak memory after batched training (ru_maxrss of the process): {rss:.2f} GiB")
    song_loop_breakdown(song_step, pieces, frames, seconds["song-at-a-time"], seconds["batched"])
    floor_check(hparams, args, batched, frames, song_s)


def parse_args():
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_flags(p)
    p.add_argument("--batch-size", type=cli.positive_int, default=BATCH_SIZE,
                   help="sequences (chunks) per batched step (default %(default)s)")
    p.add_argument("--chunk", type=cli.positive_int, default=CHUNK,
                   help="longest sequence a step sees, in RBM vectors; longer songs are cut "
                        "(default %(default)s)")
    p.add_argument("--epochs", type=cli.positive_int, default=EPOCHS,
                   help="timed epochs of batched training, after one untimed that traces it "
                        "(default %(default)s)")
    p.add_argument("--song-epochs", type=cli.positive_int, default=SONG_EPOCHS,
                   help="timed epochs of the song-at-a-time loop (default %(default)s)")
    p.add_argument("--k", type=cli.positive_int, default=layout.K_TRAIN_BENCHMARK,
                   help="Gibbs steps of CD-k (default %(default)s)")
    p.add_argument("--optimizer", default=OPTIMIZER, choices=training.OPTIMIZERS,
                   help="(default %(default)s)")
    p.add_argument("--learning-rate", type=cli.positive_float, default=LEARNING_RATE,
                   help="step size of the optimizer (default %(default)s)")
    return p.parse_args()


def load_average():
    """The 1, 5 and 15 minute load averages of the machine, as text."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main():
    args = parse_args()
    common.check_sources(args)
    # Other processes on the machine slow every figure down; the load average says how busy it was.
    print(f"load average before: {load_average()}")
    peak = common.peak_matmul_gflops()
    n = common.PEAK_MATMUL_SIZE
    print(f"peak: {peak:.1f} GFLOP/s ({n}x{n} float32 matmul, best of "
          f"{common.PEAK_MATMUL_REPEATS})")
    for name, hparams, songs in common.settings(args):
        bench_setting(name, hparams, songs, args, peak)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
