"""Trains the RNN-RBM, starting from `weight_initializations.py`'s weights.

    python rnn_rbm_train.py                 # Pop_Music_Midi/, default number of epochs
    python rnn_rbm_train.py 200             # 200 epochs
    python rnn_rbm_train.py --resume        # continue an interrupted run from its last checkpoint
    python rnn_rbm_train.py 300 --dataset ../shared/data/jsb_chorales.json \
        --init parameter_checkpoints/jsb/initialized --out-dir parameter_checkpoints/jsb

Writes `<out-dir>/epoch-<n>` every --save-every epochs and after the last one; each holds the
model, the optimizer state and the epoch, so `--resume` continues exactly. An RNN-NADE or a plain
RNN (`weight_initializations.py --distribution nade` or `bernoulli`) trains the same way on its
exact negative log-likelihood.
"""
import quiet_tensorflow  # noqa: F401  (first: TensorFlow without its start-up lines)

import contextlib
import functools
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

import checkpoints
import cli
import corpus
import data
import distribute
import layout
import midi_manipulation
import pianoroll
import rnn_rbm
import streaming
import summaries
import training

# Defaults. The original used SGD with a learning rate that decayed with the position inside a song
# (a bug); Adam at 1e-3 trains the same model in far fewer epochs (see README).
NUM_EPOCHS = 100          # passes over the songs
OPTIMIZER = "adam"        # 'adam' or 'sgd'
LEARNING_RATE = 1e-3      # step size of the optimizer
BATCH_SIZE = 4            # chunks per update
CHUNK_LENGTH = 100        # vectors per chunk (back-propagation length), as the original
GRAD_CLIP = 10.0          # elementwise gradient clipping, as the original
DROPOUT = 0.3             # dropout on the RNN's inputs and bias-setting states (the original: 0)
SELF_FEED = 0.25          # share of steps the RNN reads the model's own draw (the original: 0)
SAVE_EVERY = 5            # epochs between checkpoints
SEED = 0                  # shuffling and Gibbs sampling
NEGATIVE_START = "silence"  # where CD's chains start: "silence", as generation's, or "data" (CD)
SAMPLE_EVERY = 10         # epochs between sample piano rolls in TensorBoard (0 = none)
SAMPLE_STEPS = 64         # vectors in each such sample
TRANSPOSE = 0             # largest random transposition in semitones (0 = none)
STRATEGY = "one"          # tf.distribute strategy: "one", "mirrored" or "multi_worker"


def parse_args(argv):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("num_epochs", nargs="?", type=cli.positive_int, default=NUM_EPOCHS,
                   help="epochs to train in total (default %(default)s)")
    songs = p.add_argument_group("songs")
    songs.add_argument("--data", default=layout.MIDI_DIR,
                       help="folder of .mid files, or a corpus made by prepare_data.py (a folder "
                            "with a manifest.jsonl; streamed, its train split) "
                            "(default %(default)s)")
    songs.add_argument("--dataset",
                       help="a benchmark file (.json/.pickle); trains on its train split")
    cli.add_midi_limits(songs)
    cli.add_key_flag(songs)
    songs.add_argument("--transpose", type=cli.non_negative_int, default=TRANSPOSE,
                       help="shift every sequence by a random number of semitones up to this, "
                            "drawn afresh each epoch; --dataset only (default %(default)s)")
    saved = p.add_argument_group("checkpoints")
    saved.add_argument("--init", type=cli.checkpoint_path, default=layout.INIT_CHECKPOINT,
                       help="checkpoint to start from (default %(default)s)")
    saved.add_argument("--out-dir", type=cli.checkpoint_path, default=layout.CHECKPOINT_DIR,
                       help="folder for epoch-<n> checkpoints (default %(default)s)")
    saved.add_argument("--save-every", type=cli.positive_int, default=SAVE_EVERY,
                       help="epochs between checkpoints (default %(default)s)")
    saved.add_argument("--resume", action="store_true",
                       help="continue from the latest complete checkpoint in --out-dir")
    saved.add_argument("--force", action="store_true",
                       help="start afresh even if --out-dir holds epoch checkpoints (they are "
                            "moved into a subfolder, not deleted)")
    watch = p.add_argument_group("watching (TensorBoard)")
    watch.add_argument("--logdir", type=cli.checkpoint_path,
                       help="where the event files go (default <out-dir>/logs)")
    watch.add_argument("--sample-every", type=cli.non_negative_int, default=SAMPLE_EVERY,
                       help="epochs between piano rolls of a short sample, 0 for none "
                            "(default %(default)s)")
    add_update_flags(p.add_argument_group("updates"))
    devices = p.add_argument_group("devices")
    devices.add_argument("--strategy", choices=distribute.STRATEGIES, default=STRATEGY,
                         help="one: a single device; mirrored: every local GPU (or the CPU), "
                              "each batch split over them; multi_worker: several machines, "
                              "from TF_CONFIG (docs/distributed.md) (default %(default)s)")
    devices.add_argument("--data-threads", type=cli.positive_int, default=streaming.THREADS,
                         help="threads reading a prepared corpus; more only feeding a GPU "
                              "(default %(default)s)")
    args = p.parse_args(argv)
    if args.resume:  # flags not given again default to the resumed run's own
        p.set_defaults(**recorded_settings(args.out_dir, vars(args)))
        args = p.parse_args(argv)
    if args.k is None:  # CD-25 on songs, beside generation's 40 steps; CD-15 on benchmarks
        args.k = layout.K_TRAIN_BENCHMARK if args.dataset else layout.K_TRAIN
    if args.self_feed is None:
        args.self_feed = 0.0 if args.dataset else SELF_FEED
    return args


def add_update_flags(updates):
    """The flags of how each update is made."""
    updates.add_argument("--optimizer", default=OPTIMIZER, choices=training.OPTIMIZERS,
                         help="(default %(default)s)")
    cli.add_fitting_flags(updates, LEARNING_RATE, None, batch_size=BATCH_SIZE,
                          batch_unit="chunks",
                          k_note=f" (default {layout.K_TRAIN} on MIDI songs, "
                                 f"{layout.K_TRAIN_BENCHMARK} with --dataset, the paper's "
                                 "setting; unused by an RNN-NADE or a plain RNN)")
    updates.add_argument("--chunk-length", type=cli.non_negative_int, default=CHUNK_LENGTH,
                         help="vectors per chunk, 0 for whole songs (default %(default)s)")
    updates.add_argument("--grad-clip", type=cli.positive_float, default=GRAD_CLIP,
                         help="clip each gradient element to +-this (default %(default)s)")
    updates.add_argument("--dropout", type=cli.share, default=DROPOUT,
                         help="drop this share of the notes the RNN reads and of the states that "
                              "set the RBM biases, in training only (default %(default)s)")
    updates.add_argument("--self-feed", type=cli.share,
                         help="at this share of the steps the RNN reads the model's own draw "
                              "for the step, as in generation, instead of the song (default "
                              f"{SELF_FEED} on MIDI songs, 0 with --dataset, as the benchmark "
                              "models were trained)")
    updates.add_argument("--negative-start", choices=["data", "silence"], default=NEGATIVE_START,
                         help="where CD's chains start: the data frame (CD, the original's) or "
                              "silence, where generation starts them (default %(default)s)")
    updates.add_argument("--seed", type=int, default=SEED,
                         help="seeds shuffling and sampling (default %(default)s)")


def recorded_settings(out_dir, known):
    """The run settings stored with the newest epoch checkpoint of `out_dir` that has them, for
    the flags in `known` (all but the epoch count and --resume/--force themselves)."""
    try:
        stored = checkpoints.newest_description(checkpoints.epoch_manager(out_dir).checkpoints)[1]
    except checkpoints.CheckpointError:
        return {}  # build() says what is wrong with the folder
    skip = ("num_epochs", "resume", "force", "out_dir", "strategy", "data_threads")  # this machine
    stored = {"self_feed": 0.0, **stored}  # runs from before the flag read the songs only
    return {k: v for k, v in stored.items() if k in known and k not in skip}


def start_checkpoint(args, manager):
    """The checkpoint to start from and whether it is a resumed epoch checkpoint."""
    found = manager.checkpoints
    if args.resume and not found:
        raise checkpoints.CheckpointError(f"{args.out_dir}: no epoch checkpoint to resume from; "
                                          f"run without --resume")
    if found and not (args.resume or args.force):
        raise checkpoints.CheckpointError(
            f"{args.out_dir}: holds checkpoints up to {os.path.basename(found[-1])} from an "
            f"earlier run; pass --resume to continue it, --force to start over, or another "
            f"--out-dir")
    return (found[-1], True) if args.resume else (args.init, False)


def build(args, strategy=None):
    """The model, its optimizer, the epoch counter and the checkpoint manager, restored from
    --init or, with --resume, from the latest complete epoch checkpoint. Says which on stdout.

    Under a `strategy` the model and optimizer are made in its scope (mirrored on every replica).
    Only the chief tidies --out-dir; the manager writes into `args.writes` (`main`).
    """
    chief = args.writes == args.out_dir
    leftovers = checkpoints.remove_leftovers(args.out_dir) if chief else []
    if leftovers:
        print(f"removed what an interrupted run left in {args.out_dir}: {', '.join(leftovers)}")
    probe = checkpoints.epoch_manager(args.out_dir)
    source, resuming = start_checkpoint(args, probe)
    hparams = (checkpoints.newest_description(probe.checkpoints)[0] if resuming
               else checkpoints.load_hparams(source))
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = rnn_rbm.RnnRbm(hparams)
        optimizer = training.make_optimizer(args.optimizer, model.trainable_variables, args.lr)
    epoch = tf.Variable(0, dtype=tf.int64, name="epoch")
    if resuming:
        source = resume_point(probe.checkpoints, model, optimizer, epoch)
        print(f"resuming from {source} (epoch {int(epoch)})")
    else:
        checkpoints.restore(source, model)
        print(f"starting from {source}")
        moved = checkpoints.set_aside_epochs(args.out_dir) if args.force and chief else None
        if moved:
            print(f"moved the earlier run's checkpoints to {moved}")
    manager = checkpoints.epoch_manager(args.writes, model=model, optimizer=optimizer, epoch=epoch)
    return model, optimizer, epoch, manager


def resume_point(prefixes, model, optimizer, epoch):
    """Restores the newest of `prefixes` that reads back whole; says which it skipped and why."""
    for prefix in reversed(prefixes):
        try:
            checkpoints.restore(prefix, model, optimizer=optimizer, epoch=epoch)
            return prefix
        except checkpoints.CheckpointError as e:
            print(f"skipping {e}", file=sys.stderr)
    raise checkpoints.CheckpointError(f"{os.path.dirname(prefixes[-1])}: no epoch checkpoint "
                                      f"reads back whole; start over with --force")


def cost_meaning(model):
    if model.distribution.exact:
        return "cost: -log p(v_t | v_<t) in nats per vector; lower is better"
    return ("cost: mean F(data) - F(CD sample) per vector, a CD surrogate and not a likelihood; "
            "it tends towards 0 as the chain's samples become as likely as the data, so its "
            "trend matters more than its value")


def train(model, optimizer, epoch, manager, source, args, strategy=None):
    """Runs epochs `epoch+1 .. args.num_epochs` over the batches of `source` (`in_memory` or
    `streamed`), saving checkpoints on the way; under a `strategy` each batch is split over its
    replicas."""
    settings = {k: v for k, v in vars(args).items() if k not in ("resume", "force", "writes")}
    fit = dict(k=args.k, grad_clip=args.grad_clip, dropout=args.dropout,
               from_silence=args.negative_start == "silence", self_feed=args.self_feed)
    if strategy is None:
        step, spread = training.make_train_step(model, optimizer, **fit), lambda b: b
    else:
        step = training.make_distributed_train_step(strategy, model, optimizer, **fit)
        spread = functools.partial(distribute.distributed_batches, strategy,
                                   n_visible=model.hparams.n_visible)
    epoch_batches, vectors = source
    chief = args.writes == args.out_dir
    logdir = args.logdir or os.path.join(args.out_dir, "logs")
    log = summaries.RunLog(logdir if chief else os.path.join(args.writes, "logs"), settings)
    sampler = rnn_rbm.make_sampler(model, layout.K_GENERATE, temperature=layout.LAST_STEP)
    print(cost_meaning(model))
    for n in range(int(epoch) + 1, args.num_epochs + 1):
        start = time.time()
        costs = []
        for v, mask in cli.progress(spread(epoch_batches(n)), desc=f"epoch {n}", leave=False):
            costs.append(float(step(v, mask)))
            log.step(costs[-1], int(optimizer.iterations.numpy()))
        epoch.assign(n)
        seconds = time.time() - start
        print(f"epoch {n}/{args.num_epochs}  cost {np.mean(costs):.4f}  {seconds:.1f} s  "
              f"{vectors / max(seconds, 1e-9):,.0f} vectors/s")
        log.epoch(n, np.mean(costs), seconds, vectors)
        if args.sample_every and n % args.sample_every == 0 and chief:
            log_sample(log, n, sampler, model.hparams)
        if n % args.save_every == 0 or n == args.num_epochs:
            save(manager, model, n, settings)


def in_memory(songs, args, first_epoch):
    """`(epoch_batches(n), vectors per epoch)` over songs held in memory: padded once, the
    batches shuffled every epoch (and transposed with --transpose)."""
    chunks = training.split_into_chunks(songs, args.chunk_length)
    padded = list(training.batches(chunks, args.batch_size))
    rng = np.random.default_rng(args.seed + first_epoch)

    def epoch_batches(n):
        batches = list(padded)
        rng.shuffle(batches)
        if args.transpose:
            batches = [(training.transpose_batch(v, args.transpose, rng), mask)
                       for v, mask in batches]
        return batches

    return epoch_batches, sum(len(c) for c in chunks)


def streamed(hparams, args, first_epoch):
    """`(epoch_batches(n), vectors per epoch)` read from the prepared corpus `args.data`: the
    batches reshuffled every epoch in an order set by the seed and the first epoch (as
    `in_memory`'s), the next epoch's songs read while this one trains."""
    next_epoch, frames = streaming.training_batches(args.data, hparams, args.key,
                                                    args.chunk_length, args.batch_size,
                                                    seed=args.seed * 1000 + first_epoch,
                                                    threads=args.data_threads)
    return lambda n: next_epoch(), streaming.vectors_in(frames, hparams.num_timesteps)


def log_sample(log, n, sampler, hparams):
    """Draws a short unprimed sample and puts its piano roll in the run log as epoch `n`'s, and
    its sound where FluidSynth and a soundfont are installed (`pianoroll.render_wav`)."""
    song = sampler(tf.constant(SAMPLE_STEPS), tf.zeros([1, 0, hparams.n_visible])).numpy()[0]
    states = data.to_note_states(song, hparams)
    log.piano_roll(n, states, hparams.lowest_note)
    if shutil.which("fluidsynth") is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        midi = midi_manipulation.noteStateMatrixToMidi(
            states, os.path.join(folder, "sample"), lowerBound=hparams.lowest_note,
            upperBound=hparams.highest_note)
        wav, _ = pianoroll.render_wav(midi, os.path.join(folder, "sample.wav"))
        if wav is not None:  # without a soundfont the piano roll alone is logged
            with open(wav, "rb") as handle:
                log.audio(n, handle.read())


def save(manager, model, n, settings):
    """Writes epoch `n`; if the disk refuses, stops with one line naming what is safe."""
    try:
        checkpoints.save_epoch(manager, model, n, settings)
    except OSError as e:
        kept = manager.latest_checkpoint or "none yet"
        sys.exit(f"error: could not write the checkpoint of epoch {n} ({e}); the last complete "
                 f"one is {kept}: make room and continue with --resume")


def main(argv=None):
    args = parse_args(argv)
    try:
        strategy = distribute.make_strategy(args.strategy)  # first: before any TensorFlow work
        # Every worker saves (saving may need all of them), but only the chief into --out-dir.
        args.writes = (args.out_dir if distribute.is_chief()
                       else tempfile.mkdtemp(prefix="rnn_rbm_worker_"))
    except ValueError as e:
        sys.exit(f"error: {e}")
    try:
        with checkpoints.folder_lock(args.writes):
            run(args, strategy)
    except (checkpoints.CheckpointError, OSError) as e:
        sys.exit(f"error: {e}")
    finally:
        if args.writes != args.out_dir:
            shutil.rmtree(args.writes, ignore_errors=True)


def run(args, strategy=None):
    """Builds, loads the songs and trains; the caller holds the lock on `args.writes`."""
    try:
        model, optimizer, epoch, manager = build(args, strategy)
        hp = model.hparams
        if args.transpose and (hp.articulation or hp.num_timesteps != 1):
            raise ValueError(f"{args.init}: --transpose needs one unit per key (a model for "
                             f"--dataset); this one has an articulation half or several frames "
                             f"per vector")
        if corpus.is_cache(args.data) and not args.dataset:
            source = streamed(hp, args, int(epoch))
            what = f"prepared corpus {args.data}"
        else:
            songs = data.load_songs(hp, midi_dir=args.data, dataset=args.dataset, key=args.key,
                                    **cli.midi_limits(args))
            source = in_memory(songs, args, int(epoch))
            what = f"{len(songs)} songs"
    except (checkpoints.CheckpointError, OSError, ValueError) as e:
        sys.exit(f"error: {e}")
    if int(epoch) >= args.num_epochs:
        sys.exit(f"error: {args.out_dir} is already at epoch {int(epoch)}; ask for more epochs "
                 f"than that")
    tf.random.set_seed(args.seed + int(epoch))
    print(f"{what}, {source[1]} vectors; training epochs {int(epoch) + 1}..{args.num_epochs}"
          + (f"; {strategy.num_replicas_in_sync} replicas" if strategy else ""))
    train(model, optimizer, epoch, manager, source, args, strategy)
    if args.strategy == "multi_worker":  # the workers' copies must agree; this shows they do
        print(f"{distribute.worker_name()}: weights sha256 "
              f"{distribute.weights_digest(model.trainable_variables)}")


if __name__ == "__main__":
    main()
