"""Training speed of the RNN-RBM: batched, and song at a time as the original repository did.

    python benchmarks/bench_train.py                        # both settings
    python benchmarks/bench_train.py --setting jsb          # the paper's setting on JSB Chorales
    python benchmarks/bench_train.py --setting pop --midi-dir some/folder/of/midis

For each setting it prints frames per second and seconds per epoch of (a) batched training, many
sequences per step padded to a common length with a mask, and (b) one sequence per step in
chunks of at most `--chunk` vectors, as the original repository's loop; each with the compiled
CD chain that training uses and with the earlier chain on TensorFlow-drawn noise; then the ratio
of (a) to the faster (b), the useful GFLOP/s of each against a large matmul measured in the same
process, the peak memory, where each loop's time goes, and the time a frame (a) would need to be
8 times (b) beside what the chain's matmuls and the RNN alone take in (a).
Both runs use the same model code and one traced step each (the step's input_signature has None
for batch and time, so no length re-traces).
"""
import argparse
import os
import time

import numpy as np

import common  # first: puts the repository on the path and sets TensorFlow's log level
import RBM
import rnn_rbm
import tensorflow as tf

DEFAULTS = dict(
    batch_size=64,       # sequences (chunks) per batched step
    chunk=100,           # longest sequence a step sees, in RBM vectors; longer songs are cut
    epochs=3,            # timed epochs of batched training (one more, untimed, traces it)
    song_epochs=1,       # timed epochs of the song-at-a-time loop
    optimizer="adam",    # 'adam' or 'sgd'
    learning_rate=1e-3,  # step size
)
TARGET_RATIO = 8.0       # batched over song-at-a-time speed that the floor line below checks


def macs_per_frame(hparams):
    """Multiply-adds one real frame costs in a training step (elementwise work not counted).

    Gibbs chain: k steps of v W and h W^T. Free energies of the data and of the sample: v W each,
    and the same again in the backward pass for dF/dW. RNN: v Wvu, u Wuu, u Wuv, u Wuh forward;
    backward, one product for each weight gradient plus one for the gradient reaching u (not for
    Wvu, whose input v is data).
    """
    v, h, u = hparams.n_visible, hparams.n_hidden, hparams.n_hidden_recurrent
    chain = hparams.k_train * 2 * v * h
    free_energies = 2 * v * h + 2 * v * h
    rnn_forward = v * u + u * u + u * v + u * h
    rnn_backward = v * u + 2 * (u * u + u * v + u * h)
    return chain + free_energies + rnn_forward + rnn_backward


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


def new_step(hparams, args, compiled_chain=True):
    """A fresh model and its traced training step: `(model, step)`."""
    model = rnn_rbm.RnnRbm(hparams, seed=0)
    optimizer = rnn_rbm.make_optimizer(args.optimizer, model.trainable_variables, args.learning_rate)
    return model, rnn_rbm.make_train_step(model, optimizer, compiled_chain=compiled_chain)


def best_seconds(fn, repeats=5):
    """Fastest of `repeats` timed calls of `fn` (which must wait for its result), after one untimed."""
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
    """Milliseconds of one batched step and of its parts, on one batch: the CD chain (as training
    runs it), the chain's matmuls alone, and the RNN's forward and backward pass."""
    model, step = new_step(hparams, args)
    frames, bv_t, bh_t = model.frames_and_biases(v, mask)
    rows = int(RBM.padded_rows(frames.shape[0]))
    padded = [tf.pad(x, [[0, rows - frames.shape[0]], [0, 0]]) for x in (frames, bv_t, bh_t)]
    k = tf.constant(hparams.k_train)

    @tf.function
    def rnn_pass(v):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(model.rnn_states(v))
        return tape.gradient(total, [model.Wuu, model.Wvu, model.bu, model.u0])

    return {
        "whole step": best_seconds(lambda: step(v, mask).numpy()),
        "CD chain": best_seconds(lambda: RBM.gibbs_chain(frames, model.W, bv_t, bh_t, hparams.k_train).numpy()),
        "its matmuls alone": best_seconds(lambda: _chain_matmuls_only(*padded[:1], model.W, *padded[1:], k).numpy()),
        "RNN forward+backward": best_seconds(lambda: [g.numpy() for g in rnn_pass(v)]),
    }, frames.shape[0]


def bench_setting(name, hparams, songs, args, peak):
    pieces = rnn_rbm.split_into_chunks(songs, args.chunk)
    frames = sum(len(p) for p in pieces)
    flop = 2.0 * macs_per_frame(hparams) * frames
    batched = list(rnn_rbm.batches(pieces, args.batch_size))
    one_by_one = [(p[np.newaxis], np.ones([1, len(p)], np.float32)) for p in pieces]
    padded = sum(v.shape[0] * v.shape[1] for v, _ in batched)
    print("{}: {} songs, {} frames, n_visible={} n_hidden={} k={}, {:.2f} MFLOP a frame".format(
        name, len(songs), frames, hparams.n_visible, hparams.n_hidden, hparams.k_train,
        flop / frames / 1e6))
    print("  batched: {} steps of up to {} sequences, {:.1%} padding".format(
        len(batched), args.batch_size, 1.0 - frames / padded))

    batch_s = run_epochs(new_step(hparams, args)[1], batched, args.epochs)
    rss = common.peak_rss_gib()
    batch_plain_s = run_epochs(new_step(hparams, args, compiled_chain=False)[1], batched, args.epochs)
    # The song loop is timed with both chains and compared with the faster: one sequence's chain
    # is small, and the compiled chain's per-call cost may not pay off there.
    _, song_step = new_step(hparams, args)
    song_s = run_epochs(song_step, one_by_one, args.song_epochs)
    song_plain_s = run_epochs(new_step(hparams, args, compiled_chain=False)[1], one_by_one, args.song_epochs)
    for label, seconds in (("batched", batch_s), ("batched, TF-drawn noise", batch_plain_s),
                           ("song-at-a-time", song_s), ("song, TF-drawn noise", song_plain_s)):
        print("  {:<24} {:>9,.0f} frames/s  {:7.3f} s/epoch  {:5.1f} GFLOP/s = {:4.0%} of peak".format(
            label, frames / seconds, seconds, flop / seconds / 1e9, flop / seconds / 1e9 / peak))
    print("  compiled chain / TF-drawn noise: {:.2f}x batched, {:.2f}x song at a time".format(
        batch_plain_s / batch_s, song_plain_s / song_s))
    print("  ratio batched / faster song-at-a-time loop: {:.1f}x".format(min(song_s, song_plain_s) / batch_s))
    print("  peak memory after batched training (ru_maxrss of the process): {:.2f} GiB".format(rss))

    # Where the song loop's time goes: a step's cost that does not grow with its frames (launching
    # the step's kernels, the optimizer update over every weight) against the work per frame, read
    # off a 1-frame and a full-length step.
    longest = max(pieces, key=len)
    # (run_epochs over a one-batch "epoch" repeated N times gives the mean seconds per call.)
    one_frame = run_epochs(song_step, [(longest[np.newaxis, :1], np.ones([1, 1], np.float32))], 100)
    whole = run_epochs(song_step, [(longest[np.newaxis], np.ones([1, len(longest)], np.float32))], 30)
    per_frame = (whole - one_frame) / (len(longest) - 1)
    print("  song loop: {} steps of {:.2f} ms fixed + {:.1f} us a frame = {:.2f} s + {:.2f} s per epoch "
          "(measured {:.2f} s); batched: {:.1f} us a frame".format(
              len(one_by_one), 1e3 * one_frame, 1e6 * per_frame, len(one_by_one) * one_frame,
              frames * per_frame, song_s, 1e6 * batch_s / frames))
    v, mask = max(batched, key=lambda b: b[1].sum())
    parts, real = profile_batched_step(hparams, args, v, mask)
    print("  batched step on its largest batch ({} sequences x {} steps, {} real frames), ms: {}".format(
        v.shape[0], v.shape[1], real, ", ".join("{} {:.1f}".format(k, 1e3 * t) for k, t in parts.items())))
    # A floor under the batched step's time a frame: the two parts of it that no change to the
    # rest of the step removes. The largest batch is the cheapest a frame, so the floor is low.
    needed = min(song_s, song_plain_s) / frames / TARGET_RATIO
    floor = (parts["its matmuls alone"] + parts["RNN forward+backward"]) / real
    print("  {:g}x the song loop needs the batched step at {:.1f} us a frame; the chain's matmuls and the "
          "RNN alone take {:.1f} us a frame on the largest batch: {}".format(
              TARGET_RATIO, 1e6 * needed, 1e6 * floor,
              "out of reach with these kernels" if floor > needed else "not ruled out by them"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_data_flags(parser)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--chunk", type=int, default=DEFAULTS["chunk"])
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--song-epochs", type=int, default=DEFAULTS["song_epochs"])
    parser.add_argument("--optimizer", default=DEFAULTS["optimizer"], choices=["adam", "sgd"])
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    args = parser.parse_args()

    # Other processes on the machine slow every figure down; the load average says how busy it was.
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    peak = common.peak_matmul_gflops()
    print("peak: {:.1f} GFLOP/s ({n}x{n} float32 matmul, best of {r})".format(
        peak, n=common.PEAK_MATMUL_SIZE, r=common.PEAK_MATMUL_REPEATS))
    for name, hparams, songs in common.settings(args):
        bench_setting(name, hparams, songs, args, peak)
    print("load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
