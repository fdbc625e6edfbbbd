"""Pre-trains the RBM weights (W, bv, bh) of an RNN-RBM with contrastive divergence.

The RNN matrices start as small normals; the RBM part starts from an RBM fitted to every vector of
the training songs, which gives the RNN-RBM a sensible prior over chords before it learns time.

    python weight_initializations.py                      # Pop_Music_Midi/, the original's settings
    python weight_initializations.py --epochs 20 --out parameter_checkpoints/init_small
    python weight_initializations.py --dataset ../shared/data/jsb_chorales.json \
        --out parameter_checkpoints/jsb/initialized       # the paper's 88-key setting
    python weight_initializations.py --dataset ../shared/data/jsb_chorales.json --distribution nade \
        --out parameter_checkpoints/jsb_nade/initialized  # an RNN-NADE instead

With `--distribution nade` the model is the paper's RNN-NADE and its NADE (W, V, bv, bh) is fitted
the same way, by gradient steps on its exact log-likelihood instead of CD. With `--distribution
bernoulli` it is the paper's plain RNN: each step's units are independent, and only bv is fitted.

Writes `<out>.index`, `<out>.data-*` and `<out>.json` (the hyperparameters).
"""
import argparse
import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

import RBM
import rnn_rbm

# Defaults: those of the original repository.
MIDI_DIR = "Pop_Music_Midi"                      # folder of training songs
OUT = "parameter_checkpoints/initialized"        # checkpoint prefix written
EPOCHS = 100                                     # passes over the songs
LEARNING_RATE = 0.01                             # CD step size
CD_K = 1                                         # Gibbs steps of the negative phase
SEED = 0                                         # seeds the initial weights and the Gibbs chains


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=MIDI_DIR, help="folder of .mid files to train on (default %(default)s)")
    p.add_argument("--dataset", help="a benchmark file (.json/.pickle, train split) instead of MIDI; "
                   "selects the paper's 88-key setting")
    p.add_argument("--out", default=OUT, help="checkpoint prefix to write (default %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite an existing checkpoint at --out")
    p.add_argument("--epochs", type=int, default=EPOCHS, help="passes over the data (default %(default)s)")
    p.add_argument("--lr", type=float, default=LEARNING_RATE, help="CD learning rate (default %(default)s)")
    p.add_argument("--k", type=int, default=CD_K, help="Gibbs steps per CD update (default %(default)s)")
    p.add_argument("--n_hidden", type=int, help="RBM hidden units (default 50; 150 with --dataset)")
    p.add_argument("--n_hidden_recurrent", type=int, help="RNN units (default 100)")
    p.add_argument("--num_timesteps", type=int, help="16th-note frames per RBM vector (default 5)")
    p.add_argument("--distribution", default="rbm", choices=rnn_rbm.DISTRIBUTIONS,
                   help="the model of each step: rbm (RNN-RBM, pre-trained with CD-k), nade "
                        "(RNN-NADE) or bernoulli (plain RNN, independent units); the last two are "
                        "pre-trained by gradient descent on their exact log-likelihood (default %(default)s)")
    p.add_argument("--seed", type=int, default=SEED, help="random seed (default %(default)s)")
    return p.parse_args(argv)


def hparams_from_args(args):
    """Hyperparameters: the original's for MIDI, the paper's for a benchmark, flags override."""
    overrides = {name: getattr(args, name) for name in ("n_hidden", "n_hidden_recurrent", "num_timesteps")
                 if getattr(args, name) is not None}
    overrides["distribution"] = args.distribution
    if args.dataset:
        return rnn_rbm.paper_hparams(**overrides)
    return rnn_rbm.HParams(**overrides)


def cd_song_update(model, v, k, lr):
    """One CD-k update of W, bv, bh on the vectors `v` of one song; returns their summed squared
    reconstruction error of p(v | h(v)), a progress signal rather than the objective."""
    for variable, delta in zip(model.rbm_variables, RBM.cd_update(v, model.W, model.bv, model.bh, k, lr)):
        variable.assign_add(delta)
    recon = RBM.visible_probs(RBM.hidden_probs(v, model.W, model.bh), model.W, model.bv)
    return tf.reduce_sum(tf.square(v - recon))


def exact_song_update(model, v, lr):
    """One gradient step of size `lr` on the mean negative log-likelihood of one song's vectors
    under the NADE (W, V, bv, bh) or the independent units (bv), its biases shared by every vector;
    returns their summed NLL in nats, measured before the step."""
    rows = tf.shape(v)[0]
    with tf.GradientTape() as tape:
        bv, bh = tf.tile(model.bv[tf.newaxis], [rows, 1]), tf.tile(model.bh[tf.newaxis], [rows, 1])
        nll = -model.log_prob(v, bv, bh)
        cost = tf.reduce_mean(nll)
    for variable, grad in zip(model.rbm_variables, tape.gradient(cost, model.rbm_variables)):
        variable.assign_sub(lr * grad)
    return tf.reduce_sum(nll)


def make_epoch(model, k, lr):
    """A `tf.function` running one epoch of pre-training: one update per song, in order, CD-k for
    an RBM (`cd_song_update`), a gradient step on the exact log-likelihood otherwise (`exact_song_update`).

    The songs come concatenated as `vectors [N, n_visible]` with `bounds [songs + 1]` (song i is
    rows bounds[i]..bounds[i+1]); looping over them inside the graph spares a Python call per song.
    Returns the epoch's mean reconstruction error (NLL in nats for an exact model) per vector.
    """
    spec = [tf.TensorSpec([None, model.hparams.n_visible], tf.float32), tf.TensorSpec([None], tf.int32)]

    def song_update(v):
        return exact_song_update(model, v, lr) if model.is_exact else cd_song_update(model, v, k, lr)

    @tf.function(input_signature=spec)
    def epoch(vectors, bounds):
        def update(i, error):
            return i + 1, error + song_update(vectors[bounds[i]:bounds[i + 1]])

        songs = tf.shape(bounds)[0] - 1
        _, error = tf.while_loop(lambda i, _: i < songs, update, (tf.constant(0), tf.constant(0.0)))
        return error / tf.cast(tf.shape(vectors)[0], tf.float32)

    return epoch


def pretrain(model, songs, epochs, k, lr):
    """CD-k on the vectors of `songs` (gradient steps on the log-likelihood for an exact model), one
    song per update as in the original; returns the last epoch's mean reconstruction error (NLL in
    nats for an exact model)."""
    run_epoch = make_epoch(model, k, lr)
    vectors = tf.constant(np.concatenate(songs), tf.float32)
    bounds = tf.constant(np.cumsum([0] + [len(s) for s in songs]), tf.int32)
    error = float("nan")
    for _ in tqdm(range(epochs), desc="pre-training", unit="epoch"):
        error = float(run_epoch(vectors, bounds))
    return error


def main(argv=None):
    args = parse_args(argv)
    if rnn_rbm.checkpoint_exists(args.out) and not args.force:
        sys.exit("error: {} already holds a checkpoint; pass --force to overwrite it or choose "
                 "another --out".format(args.out))
    try:
        hparams = hparams_from_args(args)
        songs = rnn_rbm.load_songs(hparams, midi_dir=args.data, dataset=args.dataset)
    except (OSError, ValueError) as e:
        sys.exit("error: {}".format(e))
    tf.random.set_seed(args.seed)
    model = rnn_rbm.RnnRbm(hparams, seed=args.seed)
    print("{} songs, {} vectors of {} units; {} with {} hidden units".format(
        len(songs), sum(len(s) for s in songs), hparams.n_visible, hparams.distribution.upper(),
        hparams.n_hidden))
    start = time.time()
    error = pretrain(model, songs, args.epochs, args.k, args.lr)
    rnn_rbm.save(args.out, model)
    print("{} {:.4f}  {:.1f} s  saved {}".format("NLL per vector" if model.is_exact else "reconstruction error",
                                                 error, time.time() - start, args.out))


if __name__ == "__main__":
    main()
