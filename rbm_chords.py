"""Trains a plain RBM on short stretches of MIDI songs and writes new ones (Part 1 of the posts).

    python rbm_chords.py                                  # Pop_Music_Midi/, the post's settings
    python rbm_chords.py --png --wav                      # a piano roll and audio beside each
    python rbm_chords.py --save parameter_checkpoints/chords --seed 0
    python rbm_chords.py --load parameter_checkpoints/chords --num 20 --seed 1
    python rbm_chords.py --sample-steps 100               # a longer Gibbs chain per snippet
    python rbm_chords.py --num-timesteps 5 --out-dir short_snippets

Every song is cut into vectors of `--num-timesteps` 16th-note frames side by side (the note-state
layout of `midi_manipulation`); an RBM learns them with CD-k, and each snippet is the end of a
Gibbs chain started from silence. Snippets are written to `<out-dir>/generated_chord_<i>.mid`
with the smallest `i` whose .mid, .png and .wav are all free, so no file is ever overwritten.
"""
import quiet_tensorflow  # noqa: F401  (first: TensorFlow without its start-up lines)

import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

import checkpoints
import cli
import layout
import midi_manipulation
import pianoroll
import RBM

# Defaults: the post's (docs/part1.md measures the sampler against longer chains).
NUM_TIMESTEPS = 15      # 16th-note frames in one visible vector, so in one snippet
N_HIDDEN = 50           # hidden units of the RBM
EPOCHS = 200            # passes over the songs
BATCH_SIZE = 100        # vectors per CD update, taken in order within one song as in the post
LEARNING_RATE = 0.005   # CD step size
CD_K = 1                # Gibbs steps of the negative phase in training
NUM_SNIPPETS = 10       # snippets written
SAMPLE_STEPS = 1        # Gibbs steps from silence per snippet, the post's: longer chains are worse
REDRAWS = 10            # times a snippet that came out silent is drawn again
REPORTS = 10            # log lines over the training
STEM = "generated_chord"  # the snippets' file names, as the post's code named them


def parse_args(argv):
    """The flags of `argv` (`sys.argv[1:]` when None), each checked as it is parsed."""
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-timesteps", type=cli.positive_int,
                   help=f"16th-note frames per snippet (default {NUM_TIMESTEPS}; with --load, "
                        f"the saved RBM's)")
    p.add_argument("--n-hidden", type=cli.positive_int,
                   help=f"hidden units (default {N_HIDDEN}; with --load, the saved RBM's)")
    cli.add_fitting_flags(p, LEARNING_RATE, CD_K, epochs=EPOCHS, batch_size=BATCH_SIZE)
    p.add_argument("--num", type=cli.positive_int, default=NUM_SNIPPETS,
                   help="snippets to write (default %(default)s)")
    p.add_argument("--sample-steps", type=cli.positive_int, default=SAMPLE_STEPS,
                   help="Gibbs steps from silence per snippet; 1 is the post's sampler "
                        "(default %(default)s)")
    p.add_argument("--seed", type=cli.non_negative_int,
                   help="seeds the initial weights and every Gibbs chain (default: a new draw "
                        "each run)")
    p.add_argument("--data", default=layout.MIDI_DIR,
                   help="folder of .mid files to train on (default %(default)s)")
    p.add_argument("--out-dir", default=layout.MUSIC_DIR,
                   help="folder the snippets go to (default %(default)s)")
    p.add_argument("--save", metavar="PREFIX", type=cli.checkpoint_path,
                   help="save the trained RBM as PREFIX.index, PREFIX.data-* and PREFIX.json")
    p.add_argument("--load", metavar="PREFIX", type=cli.checkpoint_path,
                   help="write snippets from an RBM saved with --save instead of training one")
    cli.add_listening_flags(p)
    args = p.parse_args(argv)
    if args.load and args.save:
        p.error("--load and --save together: a loaded RBM is saved already")
    return args


def check_paths(args):
    """Checks the paths of `--save`, `--load` and `--out-dir` before anything is read or written.

    Raises:
      ValueError: one line naming the first path that makes the run impossible.
    """
    if args.save and any(os.path.exists(args.save + end) for end in (".index", ".json")):
        raise ValueError(f"{args.save}: a saved RBM is there already; choose another --save "
                         f"prefix or remove it")
    if args.load and not os.path.isfile(args.load + ".index"):
        raise ValueError(f"{args.load}: no saved RBM there (expected {args.load}.index); save "
                         f"one with --save first or check the path")
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        raise ValueError(f"{args.out_dir}: is a file, not a folder; pass another --out-dir")


def batch_bounds(lengths, batch_size):
    """The batches of an epoch: each song cut on its own into `batch_size` vectors, as the post.

    Args:
      lengths: vectors in each song, the songs laid end to end in one array.
      batch_size: most vectors per batch; a song's last batch holds what is left.
    Returns:
      `(starts [B], ends [B])`, int32: batch i is rows `starts[i]:ends[i]` of that array.
    """
    starts, ends, offset = [], [], 0
    for length in lengths:
        for start in range(0, length, batch_size):
            starts.append(offset + start)
            ends.append(offset + min(start + batch_size, length))
        offset += length
    return np.array(starts, np.int32), np.array(ends, np.int32)


def make_epoch(rbm, k, lr):
    """A `tf.function` running one epoch: one CD-k update per batch, looped inside the graph.

    Args:
      rbm: the `RBM.RBM` to update in place.
      k: Gibbs steps of each CD update; lr: its learning rate.
    Returns:
      `epoch(vectors [N, n_visible], starts [B], ends [B])` (see `batch_bounds`), which updates
      `rbm` once per batch in order and returns the epoch's summed squared reconstruction error
      divided by N, a scalar.
    """
    spec = [tf.TensorSpec([None, rbm.W.shape[0]], tf.float32),
            tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)]

    @tf.function(input_signature=spec)
    def epoch(vectors, starts, ends):
        base = tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64)  # see RBM.fused_chain

        def update(i, error):
            seed = tf.random.experimental.stateless_fold_in(base, i)
            return i + 1, error + rbm.pretrain_update(vectors[starts[i]:ends[i]], k, lr, seed)

        batches = tf.shape(starts)[0]
        _, error = tf.while_loop(lambda i, _: i < batches, update,
                                 (tf.constant(0), tf.constant(0.0)))
        return error / tf.cast(tf.shape(vectors)[0], tf.float32)

    return epoch


def train(rbm, songs, args):
    """Fits `rbm` to the vectors of `songs` with CD-k, printing `REPORTS` evenly spaced lines.

    Args:
      rbm: a new `RBM.RBM`.
      songs: list of `[T_i, n_visible]` arrays from `midi_manipulation.get_songs`.
      args: the flags (`epochs`, `batch_size`, `k`, `lr`).
    Returns:
      The last epoch's squared reconstruction error per vector.
    """
    run_epoch = make_epoch(rbm, args.k, args.lr)
    vectors = tf.constant(np.concatenate(songs), tf.float32)
    starts, ends = (tf.constant(b) for b in batch_bounds([len(s) for s in songs], args.batch_size))
    shown = set(np.linspace(1, args.epochs, min(REPORTS, args.epochs)).round().astype(int))
    begin, error = time.time(), float("nan")
    for n in cli.progress(range(1, args.epochs + 1), desc="training", unit="epoch"):
        error = float(run_epoch(vectors, starts, ends))
        if n in shown:
            print(f"epoch {n}/{args.epochs}  reconstruction error {error:.4f}  "
                  f"(lower is better)  {time.time() - begin:.1f} s")
    return error


def n_visible(num_timesteps):
    """Units of a visible vector: `num_timesteps` note-state frames of `2 * span` values."""
    return num_timesteps * 2 * midi_manipulation.span


def save(prefix, rbm, settings):
    """Writes `rbm` to `prefix.index` and `prefix.data-*`, then `settings` to `prefix.json`."""
    tf.train.Checkpoint(rbm=rbm).write(prefix)
    checkpoints.write_json_atomically(prefix + ".json", settings)


def load(prefix):
    """Rebuilds an RBM from what `save` wrote at `prefix`.

    Returns:
      `(rbm, num_timesteps)`.
    Raises:
      ValueError: one line, when the JSON is missing or unreadable or the weights do not fit it.
    """
    try:
        with open(prefix + ".json", encoding="utf-8") as handle:
            sizes = json.load(handle)["rbm"]
        num_timesteps, n_hidden = int(sizes["num_timesteps"]), int(sizes["n_hidden"])
        if num_timesteps < 1 or n_hidden < 1:
            raise ValueError("sizes below 1")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{prefix}.json: cannot read the RBM's sizes ({type(e).__name__} {e}); "
                         f"it is written beside the checkpoint by --save") from None
    # Any generator will do: the initial weights are replaced by the saved ones.
    rbm = RBM.RBM(n_visible(num_timesteps), n_hidden, tf.random.Generator.from_seed(0))
    try:
        tf.train.Checkpoint(rbm=rbm).read(prefix).assert_consumed()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        said = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"{prefix}: not an RBM of the sizes in {prefix}.json, or damaged "
                         f"({said}); save it again with --save") from None
    return rbm, num_timesteps


def loaded(args):
    """The RBM of `--load` and its `num_timesteps`; explicit size flags must agree with it."""
    rbm, num_timesteps = load(args.load)
    for flag, given, saved in (("--num-timesteps", args.num_timesteps, num_timesteps),
                               ("--n-hidden", args.n_hidden, rbm.W.shape[1])):
        if given is not None and given != saved:
            raise ValueError(f"{flag} {given}: the RBM in {args.load} has {saved}; leave the "
                             f"flag out with --load")
    print(f"loaded {args.load}  ({num_timesteps} 16ths a snippet, {rbm.W.shape[1]} hidden units)")
    return rbm, num_timesteps


def trained(songs, num_timesteps, args):
    """A new RBM fitted to `songs` (and saved when `--save` is given)."""
    n_hidden = args.n_hidden or N_HIDDEN
    rng = (tf.random.Generator.from_seed(args.seed) if args.seed is not None
           else tf.random.Generator.from_non_deterministic_state())
    rbm = RBM.RBM(n_visible(num_timesteps), n_hidden, rng)
    print(f"{len(songs)} songs, {sum(len(s) for s in songs)} vectors of "
          f"{n_visible(num_timesteps)} units; RBM with {n_hidden} hidden units")
    error = train(rbm, songs, args)
    if args.save:
        run = {name: getattr(args, name) for name in ("epochs", "batch_size", "lr", "k", "seed",
                                                       "data")}
        save(args.save, rbm, {"rbm": {"num_timesteps": num_timesteps, "n_hidden": n_hidden},
                              "run": {**run, "reconstruction_error": error}})
        print(f"saved {args.save}")
    return rbm


def make_sampler(rbm, steps):
    """A `tf.function` mapping `start [N, n_visible]` to the ends of `steps`-step Gibbs chains
    from its rows, traced once for any N (a chain compiled for exactly one row fails)."""
    @tf.function(input_signature=[tf.TensorSpec([None, rbm.W.shape[0]], tf.float32)])
    def sample(start):
        return rbm.sample(start, rbm.biases, steps)

    return sample


def draw(rbm, num, steps, num_timesteps, seed):
    """Snippets drawn as the ends of `steps`-step Gibbs chains started from silence.

    A snippet in which no note sounds is drawn again, up to `REDRAWS` times (the post dropped
    them, writing fewer files); one still silent after that stays silent.

    Args:
      rbm: a trained `RBM.RBM`.
      num: snippets; steps: Gibbs steps per chain; num_timesteps: frames per snippet.
      seed: reseeds TensorFlow's generator first when not None.
    Returns:
      `[num, n_visible]` float32 array of 0s and 1s.
    """
    if seed is not None:
        tf.random.set_seed(seed)  # here too, so a loaded RBM repeats what training wrote
    sample = make_sampler(rbm, steps)
    snippets = sample(tf.zeros([num, rbm.W.shape[0]])).numpy()
    for _ in range(REDRAWS):
        frames = snippets.reshape(num, num_timesteps, 2 * midi_manipulation.span)
        silent = ~frames[:, :, :midi_manipulation.span].any(axis=(1, 2))  # no play bit at all
        if not silent.any():
            break
        snippets[silent] = sample(tf.zeros([int(silent.sum()), rbm.W.shape[0]])).numpy()
    return snippets


def free_stem(folder):
    """`folder/generated_chord_<i>` for the smallest `i` with no .mid, .png or .wav there."""
    i = 0
    while any(os.path.exists(os.path.join(folder, f"{STEM}_{i}{end}"))
              for end in (".mid", ".png", ".wav")):
        i += 1
    return os.path.join(folder, f"{STEM}_{i}")


def write_snippets(snippets, num_timesteps, args):
    """Writes each snippet as MIDI (and PNG, WAV when asked) and prints it with its notes.

    Args:
      snippets: `[num, num_timesteps * 2 * span]` rows of 0s and 1s.
      num_timesteps: frames per row.
      args: the flags (`out_dir`, `png`, `wav`).
    """
    audio = args.wav
    for row in snippets:
        frames = row.reshape(num_timesteps, 2 * midi_manipulation.span)
        stem = free_stem(args.out_dir)
        path = midi_manipulation.write_song(stem + ".mid", row[None], num_timesteps=num_timesteps)
        print(f"wrote {path}  ({midi_manipulation.count_notes(frames)} notes)")
        if args.png:
            pianoroll.write_png(stem + ".png", frames)
        if audio:
            _, reason = pianoroll.render_wav(path, stem + ".wav")
            if reason:
                print(reason)
                audio = False  # the reason holds for every file: say it once


def main(argv=None):
    """Trains (or loads) the RBM and writes the snippets; exits with one `error:` line on a bad
    path or file, before any training."""
    args = parse_args(argv)
    if args.seed is not None:
        tf.random.set_seed(args.seed)
    try:
        check_paths(args)
        if args.load:
            rbm, num_timesteps = loaded(args)
        else:
            num_timesteps = args.num_timesteps or NUM_TIMESTEPS
            songs = midi_manipulation.get_songs(args.data, num_timesteps=num_timesteps)
        for folder in (args.out_dir, os.path.dirname(args.save or "")):
            if folder:
                os.makedirs(folder, exist_ok=True)
    except (OSError, ValueError) as e:  # MidiFileError is a ValueError
        sys.exit(f"error: {e}")
    if not args.load:
        rbm = trained(songs, num_timesteps, args)
    snippets = draw(rbm, args.num, args.sample_steps, num_timesteps, args.seed)
    write_snippets(snippets, num_timesteps, args)


if __name__ == "__main__":
    main()
