"""Pre-trains the per-step distribution (the RBM's W, bv, bh) of an RNN-RBM.

The RNN matrices start as small normals; the RBM part starts from an RBM fitted to every vector of
the training songs, which gives the RNN-RBM a sensible prior over chords before it learns time.

    python weight_initializations.py                      # Pop_Music_Midi/, the original's settings
    python weight_initializations.py --epochs 20 --out parameter_checkpoints/init_small
    python weight_initializations.py --dataset ../shared/data/jsb_chorales.json \
        --out parameter_checkpoints/jsb/initialized       # the paper's 88-key setting
    python weight_initializations.py --dataset ../shared/data/jsb_chorales.json \
        --distribution nade \
        --out parameter_checkpoints/jsb_nade/initialized  # an RNN-NADE instead

An RBM is fitted with CD-k; a NADE (`--distribution nade`, the paper's RNN-NADE) or independent
units (`--distribution bernoulli`, its plain RNN) by gradient steps on their exact
log-likelihood. Writes `<out>.index`, `<out>.data-*` and `<out>.json` (the hyperparameters).
"""
import quiet_tensorflow  # noqa: F401  (first: TensorFlow without its start-up lines)

import os
import sys
import time

import numpy as np
import tensorflow as tf

import checkpoints
import cli
import corpus
import data
import distributions
import layout
import rnn_rbm
import streaming

# Defaults of pre-training: the original repository's. The model's sizes come from rnn_rbm.HParams
# and the songs' key from layout.KEY (see the README's departures).
EPOCHS = 100          # passes over the songs
LEARNING_RATE = 0.01  # CD step size
CD_K = 1              # Gibbs steps of the negative phase
SEED = 0              # seeds the initial weights and the Gibbs chains
REPORTS = 5           # progress lines printed over the epochs


def parse_args(argv):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=layout.MIDI_DIR,
                   help="folder of .mid files, or a corpus made by prepare_data.py "
                        "(default %(default)s)")
    p.add_argument("--dataset", help="a benchmark file (.json/.pickle, train split) instead of "
                   "MIDI; selects the paper's 88-key setting")
    p.add_argument("--out", type=cli.checkpoint_path, default=layout.INIT_CHECKPOINT,
                   help="checkpoint prefix to write (default %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite an existing checkpoint at --out")
    cli.add_fitting_flags(p, LEARNING_RATE, CD_K, epochs=EPOCHS,
                          k_note="; unused by a NADE or independent units")
    p.add_argument("--n-hidden", type=cli.positive_int,
                   help="RBM hidden units (default 150, the original's 50)")
    p.add_argument("--n-hidden-recurrent", type=cli.positive_int, help="RNN units (default 100)")
    p.add_argument("--num-timesteps", type=cli.positive_int,
                   help=f"16th-note frames per RBM vector (default {layout.NUM_TIMESTEPS})")
    p.add_argument("--distribution", default="rbm", choices=list(distributions.DISTRIBUTIONS),
                   help="the model of each step: rbm (RNN-RBM, pre-trained with CD-k), nade "
                        "(RNN-NADE) or bernoulli (plain RNN, independent units); the last two are "
                        "pre-trained by gradient descent on their exact log-likelihood "
                        "(default %(default)s)")
    p.add_argument("--seed", type=int, default=SEED, help="random seed (default %(default)s)")
    cli.add_midi_limits(p)
    cli.add_key_flag(p)
    return p.parse_args(argv)


def hparams_from_args(args):
    """Hyperparameters: the original's for MIDI, the paper's for a benchmark, flags override."""
    overrides = {name: getattr(args, name) for name in
                 ("n_hidden", "n_hidden_recurrent", "num_timesteps")
                 if getattr(args, name) is not None}
    overrides["distribution"] = args.distribution
    if args.dataset:
        return rnn_rbm.paper_hparams(**overrides)
    return rnn_rbm.HParams(**overrides)


def make_epoch(distribution, n_visible, k, lr):
    """A `tf.function` running one epoch of pre-training: one `pretrain_update` per song, in order.

    The songs come concatenated as `vectors [N, n_visible]` with `bounds [songs + 1]` (song i is
    rows bounds[i]..bounds[i+1]); looping over them inside the graph spares a Python call per song.
    Returns the epoch's mean reconstruction error (-log p in nats for an exact model) per vector.
    """
    spec = [tf.TensorSpec([None, n_visible], tf.float32), tf.TensorSpec([None], tf.int32)]

    @tf.function(input_signature=spec)
    def epoch(vectors, bounds):
        base = tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64)  # see RBM.fused_chain

        def update(i, error):
            song = vectors[bounds[i]:bounds[i + 1]]
            seed = tf.random.experimental.stateless_fold_in(base, i)
            return i + 1, error + distribution.pretrain_update(song, k, lr, seed)

        songs = tf.shape(bounds)[0] - 1
        _, error = tf.while_loop(lambda i, _: i < songs, update, (tf.constant(0), tf.constant(0.0)))
        return error / tf.cast(tf.shape(vectors)[0], tf.float32)

    return epoch


def pretrain(model, blocks, epochs, k, lr, reports=REPORTS):
    """Fits `model.distribution` to the songs, one song per update as in the original; prints
    the error at `reports` evenly spaced epochs and returns the last one.

    `blocks()` gives one epoch's songs as `(vectors [N, n_visible], bounds [songs + 1])` blocks
    (`in_memory_blocks`, or `streaming.song_blocks` for a prepared corpus).
    """
    run_epoch = make_epoch(model.distribution, model.hparams.n_visible, k, lr)
    shown = set(np.linspace(1, epochs, min(reports, epochs)).round().astype(int))
    label = "-log p per vector, nats" if model.distribution.exact else "reconstruction error"
    error = float("nan")
    for n in cli.progress(range(1, epochs + 1), desc="pre-training", unit="epoch"):
        total, count = 0.0, 0
        for vectors, bounds in blocks():
            total += float(run_epoch(vectors, bounds)) * len(vectors)
            count += len(vectors)
        error = total / count
        if n in shown:
            print(f"epoch {n}/{epochs}  {label} {error:.4f}  (lower is better)")
    return error


def in_memory_blocks(songs):
    """`pretrain`'s blocks for songs held in memory: all of them, as one block."""
    block = (tf.constant(np.concatenate(songs), tf.float32),
             tf.constant(np.cumsum([0] + [len(s) for s in songs]), tf.int32))
    return lambda: [block]


def training_songs(args, hparams):
    """`(blocks, songs, vectors)` of the training material: a MIDI folder or benchmark split held
    in memory, or a prepared corpus (`prepare_data.py`) streamed."""
    if corpus.is_cache(args.data) and not args.dataset:
        groups, frames = streaming.song_groups(args.data, hparams, "train", args.key)
        return (lambda: streaming.song_blocks(groups, hparams), len(frames),
                streaming.vectors_in(frames, hparams.num_timesteps))
    songs = data.load_songs(hparams, midi_dir=args.data, dataset=args.dataset, key=args.key,
                            **cli.midi_limits(args))
    return in_memory_blocks(songs), len(songs), sum(len(s) for s in songs)


def main(argv=None):
    args = parse_args(argv)
    taken = [p for p in (args.out + ".index", args.out + ".json") if os.path.exists(p)]
    if taken and not args.force:
        sys.exit(f"error: {taken[0]} already exists; pass --force to overwrite it or choose "
                 f"another --out")
    try:
        folder = os.path.dirname(args.out) or "."
        os.makedirs(folder, exist_ok=True)  # up front: a run that cannot save is not started
        if not os.access(folder, os.W_OK):
            raise OSError(f"{folder}: not writable; pick another --out")
        hparams = hparams_from_args(args)
        blocks, n_songs, n_vectors = training_songs(args, hparams)
    except (OSError, ValueError) as e:
        sys.exit(f"error: {e}")
    tf.random.set_seed(args.seed)
    model = rnn_rbm.RnnRbm(hparams, seed=args.seed)
    print(f"{n_songs} songs, {n_vectors} vectors of {hparams.n_visible} "
          f"units; {hparams.distribution.upper()} with {hparams.n_hidden} hidden units")
    start = time.time()
    pretrain(model, blocks, args.epochs, args.k, args.lr)
    try:
        checkpoints.save(args.out, model, run=dict(vars(args)))
    except OSError as e:
        sys.exit(f"error: could not write {args.out} ({e}); nothing was saved: make room or pick "
                 f"another --out, and run again")
    print(f"saved {args.out}  {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
