"""Trains the RNN-RBM on the free-energy cost, starting from `weight_initializations.py`'s weights.

    python rnn_rbm_train.py                 # Pop_Music_Midi/, default number of epochs
    python rnn_rbm_train.py 200             # 200 epochs
    python rnn_rbm_train.py --resume        # continue an interrupted run from its last checkpoint
    python rnn_rbm_train.py 300 --dataset ../shared/data/jsb_chorales.json \
        --init parameter_checkpoints/jsb/initialized --out-dir parameter_checkpoints/jsb

Writes `<out-dir>/epoch_<n>` every --save-every epochs and after the last one; each holds the
model, the optimizer state and the epoch, so `--resume` continues exactly.

An RNN-NADE or a plain RNN (`weight_initializations.py --distribution nade` or `bernoulli`) trains
the same way on its exact negative log-likelihood; the cost printed is then that, in nats per frame.
"""
import argparse
import os
import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

import rnn_rbm

# Defaults. The original used SGD with a learning rate that decayed with the position inside a song
# (a bug); Adam at 1e-3 trains the same model in far fewer epochs (see README).
NUM_EPOCHS = 100                          # passes over the songs
MIDI_DIR = "Pop_Music_Midi"               # folder of training songs
INIT = "parameter_checkpoints/initialized"  # weights from weight_initializations.py
OUT_DIR = "parameter_checkpoints"         # where epoch_<n> checkpoints go
OPTIMIZER = "adam"                        # 'adam' or 'sgd'
LEARNING_RATE = 1e-3                      # step size of the optimizer
BATCH_SIZE = 4                            # chunks per update
CHUNK_LENGTH = 100                        # vectors per chunk (back-propagation length), as the original
GRAD_CLIP = 10.0                          # elementwise gradient clipping, as the original
DROPOUT = 0.0                             # dropout on the RNN's inputs and bias-setting states
SAVE_EVERY = 5                            # epochs between checkpoints
SEED = 0                                  # shuffling and Gibbs sampling
TRANSPOSE = 0                             # largest random transposition in semitones (0 = none)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("num_epochs", nargs="?", type=int, default=NUM_EPOCHS,
                   help="epochs to train in total (default %(default)s)")
    p.add_argument("--data", default=MIDI_DIR, help="folder of .mid files (default %(default)s)")
    p.add_argument("--dataset", help="a benchmark file (.json/.pickle); trains on its train split")
    p.add_argument("--init", default=INIT, help="checkpoint to start from (default %(default)s)")
    p.add_argument("--out-dir", default=OUT_DIR, help="folder for epoch_<n> checkpoints (default %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue from the latest epoch_<n> in --out-dir")
    p.add_argument("--force", action="store_true", help="start afresh even if --out-dir holds epoch_<n> checkpoints")
    p.add_argument("--optimizer", default=OPTIMIZER, choices=["adam", "sgd"], help="(default %(default)s)")
    p.add_argument("--lr", type=float, default=LEARNING_RATE, help="learning rate (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="chunks per update (default %(default)s)")
    p.add_argument("--chunk-length", type=int, default=CHUNK_LENGTH,
                   help="vectors per chunk, 0 for whole songs (default %(default)s)")
    p.add_argument("--k", type=int, help="Gibbs steps of CD-k (default: the checkpoint's k_train, 15; "
                   "unused by an RNN-NADE or a plain RNN)")
    p.add_argument("--grad-clip", type=float, default=GRAD_CLIP, help="(default %(default)s)")
    p.add_argument("--dropout", type=float, default=DROPOUT,
                   help="drop this share of the notes the RNN reads and of the RNN states that set "
                        "the RBM biases, in training only (default %(default)s)")
    p.add_argument("--save-every", type=int, default=SAVE_EVERY, help="(default %(default)s)")
    p.add_argument("--seed", type=int, default=SEED, help="(default %(default)s)")
    p.add_argument("--transpose", type=int, default=TRANSPOSE,
                   help="shift every sequence by a random number of semitones up to this, drawn "
                        "afresh each epoch; benchmark data (--dataset) only (default %(default)s)")
    return p.parse_args(argv)


def build(args):
    """The model, its optimizer and the epoch counter, restored from --init or, with --resume, from
    the latest epoch checkpoint. Says which on stdout."""
    existing = rnn_rbm.epoch_checkpoints(args.out_dir)
    if args.resume and not existing:
        raise rnn_rbm.CheckpointError("{}: no epoch_<n> checkpoint to resume from; run without "
                                      "--resume".format(args.out_dir))
    if existing and not (args.resume or args.force):
        raise rnn_rbm.CheckpointError("{}: holds checkpoints up to epoch_{} from an earlier run; pass "
                                      "--resume to continue it, --force to start over, or another "
                                      "--out-dir".format(args.out_dir, max(existing)))
    source = existing[max(existing)] if args.resume else args.init
    hparams = rnn_rbm.load_hparams(source)
    if args.k is not None:
        hparams.k_train = args.k
    model = rnn_rbm.RnnRbm(hparams)
    optimizer = rnn_rbm.make_optimizer(args.optimizer, model.trainable_variables, args.lr)
    epoch = tf.Variable(0, dtype=tf.int64, name="epoch")
    if args.resume:
        rnn_rbm.restore(source, model, optimizer=optimizer, epoch=epoch)
        print("resuming from {} (epoch {})".format(source, int(epoch)))
    else:
        rnn_rbm.restore(source, model)
        print("starting from {}".format(source))
    return model, optimizer, epoch


def train(model, optimizer, epoch, songs, args):
    """Runs epochs `epoch+1 .. args.num_epochs`, saving checkpoints on the way."""
    step = rnn_rbm.make_train_step(model, optimizer, args.grad_clip, dropout=args.dropout)
    chunks = rnn_rbm.split_into_chunks(songs, args.chunk_length)
    padded = list(rnn_rbm.batches(chunks, args.batch_size))  # padded once, shuffled every epoch
    rng = np.random.default_rng(args.seed + int(epoch))
    for n in range(int(epoch) + 1, args.num_epochs + 1):
        start = time.time()
        batches = list(padded)
        rng.shuffle(batches)
        if args.transpose:
            batches = [(rnn_rbm.transpose_batch(v, args.transpose, rng), mask) for v, mask in batches]
        costs = [float(step(v, mask)) for v, mask in tqdm(batches, desc="epoch {}".format(n), leave=False)]
        epoch.assign(n)
        print("epoch {}/{}  cost {:.4f}  {:.1f} s".format(n, args.num_epochs, np.mean(costs), time.time() - start))
        if n % args.save_every == 0 or n == args.num_epochs:
            rnn_rbm.save(os.path.join(args.out_dir, "epoch_{}".format(n)), model, optimizer=optimizer, epoch=epoch)


def main(argv=None):
    args = parse_args(argv)
    if not 0.0 <= args.dropout < 1.0:
        sys.exit("error: --dropout {} is not a share of units; give a value in [0, 1)".format(args.dropout))
    try:
        model, optimizer, epoch = build(args)
        hp = model.hparams
        if args.transpose and (hp.articulation or hp.num_timesteps != 1):
            sys.exit("error: {}: --transpose needs one unit per key (a model for --dataset); this one "
                     "has an articulation half or several frames per vector".format(args.init))
        songs = rnn_rbm.load_songs(hp, midi_dir=args.data, dataset=args.dataset)
    except (rnn_rbm.CheckpointError, OSError, ValueError) as e:
        sys.exit("error: {}".format(e))
    if int(epoch) >= args.num_epochs:
        sys.exit("error: {} is already at epoch {}; ask for more epochs than that".format(args.out_dir, int(epoch)))
    tf.random.set_seed(args.seed + int(epoch))
    print("{} songs, {} vectors; training epochs {}..{}".format(
        len(songs), sum(len(s) for s in songs), int(epoch) + 1, args.num_epochs))
    train(model, optimizer, epoch, songs, args)


if __name__ == "__main__":
    main()
