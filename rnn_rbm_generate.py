"""Writes new songs, as MIDI files, from a trained RNN-RBM checkpoint.

    python rnn_rbm_generate.py parameter_checkpoints/pretrained
    python rnn_rbm_generate.py parameter_checkpoints/epoch-100 --num 5 --steps 600
    python rnn_rbm_generate.py parameter_checkpoints --primer Pop_Music_Midi/some_song.mid
    python rnn_rbm_generate.py parameter_checkpoints/pretrained --no-primer --out-dir my_songs

A folder instead of a checkpoint takes its latest epoch checkpoint. Each song is primed with the
start of a song (picked at random from --data, or --primer) and then sampled step by step; the
files are named <checkpoint>_<i>.mid (with --png and --wav also .png and .wav) and an existing
file is never overwritten.
"""
import quiet_tensorflow  # noqa: F401  (first: TensorFlow without its start-up lines)

import os
import sys

import numpy as np
import tensorflow as tf

import checkpoints
import cli
import data
import layout
import midi_manipulation
import pianoroll
import rnn_rbm

NUM_SONGS = 3        # songs written
MAX_SONGS = 1000     # songs one run may ask for (all are sampled at once, in one batch)
STEPS = 300          # vectors sampled per song (num_timesteps 16th notes each)
PRIME_LENGTH = 20    # primer vectors the RNN reads first (80 16th notes, 5 bars, at 4 a vector)


def parse_args(argv):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("saved_weights_path", type=cli.checkpoint_path,
                   help="checkpoint prefix (e.g. parameter_checkpoints/pretrained) or a folder "
                        "of epoch-<n> checkpoints")
    p.add_argument("--num", type=cli.positive_int, default=NUM_SONGS,
                   help=f"songs to write, at most {MAX_SONGS} (default %(default)s)")
    p.add_argument("--steps", type=cli.positive_int, default=STEPS,
                   help="vectors per song (default %(default)s)")
    p.add_argument("--k", type=cli.positive_int, default=layout.K_GENERATE,
                   help="Gibbs steps per vector of an RBM (default %(default)s)")
    p.add_argument("--primer", help="a MIDI file to prime every song with (default: random songs "
                   "of --data)")
    p.add_argument("--no-primer", action="store_true", help="start from silence, not a primer")
    p.add_argument("--prime-length", type=cli.non_negative_int, default=PRIME_LENGTH,
                   help="primer vectors (default %(default)s)")
    p.add_argument("--data", default=layout.MIDI_DIR,
                   help="folder to draw primers from (default %(default)s)")
    p.add_argument("--out-dir", default=layout.MUSIC_DIR,
                   help="output folder (default %(default)s)")
    p.add_argument("--chain-start", choices=["silence", "previous"], default="silence",
                   help="where each vector's Gibbs chain starts: silence (default) or the previous "
                        "vector, as the original code did")
    cli.add_listening_flags(p)
    p.add_argument("--last-step", type=cli.last_step, default=layout.LAST_STEP,
                   help="each vector's last Gibbs step, given the chain's last hidden state: "
                        "sample draws it (the original's), mode takes the most probable notes, "
                        "a number T between draws the unlikely notes at temperature T, which all "
                        "but drops them, and the likely ones as they are (default %(default)s)")
    p.add_argument("--seed", type=int, help="random seed (default: different songs every run)")
    args = p.parse_args(argv)
    if args.num > MAX_SONGS:
        p.error(f"--num {args.num}: at most {MAX_SONGS} songs a run; run it several times")
    return args


def random_song(folder, num_timesteps, rng):
    """A randomly picked readable song of `folder` as vectors; reads only the files it tries."""
    files = midi_manipulation.midi_files(folder)
    for i in rng.permutation(len(files)):
        try:
            song = midi_manipulation.get_song(files[i], num_timesteps)
        except midi_manipulation.MidiFileError as e:
            print(f"skipping {e}", file=sys.stderr)
            continue
        if len(song):
            return song
    raise midi_manipulation.MidiFileError(f"{folder}: no readable MIDI file to prime with; pass "
                                          f"--primer or --no-primer")


def primers(args, hparams, rng, key="as-is"):
    """`[num, prime_length, n_visible]` primer vectors (prime_length 0 without a primer), moved
    to C when the model was trained on songs moved to C (`key`)."""
    if args.no_primer or args.prime_length == 0 or not hparams.articulation:
        # Benchmark models read 88-key frames; MIDI primers are in the note-state layout.
        return np.zeros((args.num, 0, hparams.n_visible), np.float32)
    if args.primer:
        songs = [midi_manipulation.get_song(args.primer, hparams.num_timesteps)] * args.num
    else:
        songs = [random_song(args.data, hparams.num_timesteps, rng) for _ in range(args.num)]
    if key == "c":
        songs = [data.to_c(s, hparams.num_timesteps) for s in songs]
    length = min([args.prime_length] + [len(s) for s in songs])
    return np.stack([s[:length] for s in songs]).astype(np.float32)


def free_path(folder, stem, suffixes=(".mid", ".png", ".wav")):
    """`folder/stem_<i>` (no suffix) for the smallest i with no file of any of `suffixes`."""
    i = 0
    while any(os.path.exists(os.path.join(folder, f"{stem}_{i}{s}")) for s in suffixes):
        i += 1
    return os.path.join(folder, f"{stem}_{i}")


def write_song(frames, base, hparams, args):
    """Writes `<base>.mid` (and `.png`, `.wav` when asked) and prints what it wrote."""
    bounds = dict(lowerBound=hparams.lowest_note, upperBound=hparams.highest_note)
    path = midi_manipulation.noteStateMatrixToMidi(frames, name=base + ".mid", **bounds)
    print(f"wrote {path}  ({midi_manipulation.count_notes(frames, **bounds)} notes)")
    if args.png:
        image = pianoroll.write_png(base + ".png", frames, lowest_note=hparams.lowest_note)
        print(f"wrote {image}")
    if args.wav:
        wav, reason = pianoroll.render_wav(path, base + ".wav")
        print(f"wrote {wav}" if wav else reason)


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    if args.seed is not None:
        tf.random.set_seed(args.seed)
    try:
        prefix = checkpoints.latest(args.saved_weights_path)
        hparams, run = checkpoints.load_description(prefix)
        model = rnn_rbm.RnnRbm(hparams, seed=0)  # initial values are overwritten
        checkpoints.restore(prefix, model)
        trained_key = run.get("key", "as-is")
        primer = primers(args, model.hparams, rng, trained_key)
        os.makedirs(args.out_dir, exist_ok=True)
    except (checkpoints.CheckpointError, OSError, ValueError) as e:
        sys.exit(f"error: {e}")
    sampler = rnn_rbm.make_sampler(model, args.k, args.chain_start == "previous", args.last_step)
    songs = sampler(tf.constant(args.steps), tf.constant(primer)).numpy()
    stem = os.path.basename(os.path.normpath(prefix))
    for song in songs:
        frames = data.to_note_states(song, model.hparams)
        write_song(frames, free_path(args.out_dir, stem), model.hparams, args)


if __name__ == "__main__":
    main()
