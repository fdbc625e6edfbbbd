"""Writes new songs, as MIDI files, from a trained RNN-RBM checkpoint.

    python rnn_rbm_generate.py parameter_checkpoints/pretrained
    python rnn_rbm_generate.py parameter_checkpoints/epoch_100 --num 5 --steps 600
    python rnn_rbm_generate.py parameter_checkpoints --primer Pop_Music_Midi/some_song.mid
    python rnn_rbm_generate.py parameter_checkpoints/pretrained --no-primer --out my_songs

A folder instead of a checkpoint takes its latest epoch_<n>. Each song is primed with the start of a
song (picked at random from --data, or --primer) and then sampled step by step; the files are
named <checkpoint>_<i>.mid and an existing file is never overwritten.
"""
import argparse
import os
import sys

import numpy as np
import tensorflow as tf

import midi_manipulation
import rnn_rbm

NUM_SONGS = 3            # songs written
STEPS = 300              # RBM vectors sampled per song (num_timesteps 16th notes each)
PRIME_LENGTH = 20        # primer vectors the RNN reads first (100 16th notes at num_timesteps=5)
MIDI_DIR = "Pop_Music_Midi"
OUT_DIR = "music_outputs"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("saved_weights_path", help="checkpoint prefix (e.g. parameter_checkpoints/epoch_100) "
                   "or a folder of epoch_<n> checkpoints")
    p.add_argument("--num", type=int, default=NUM_SONGS, help="songs to write (default %(default)s)")
    p.add_argument("--steps", type=int, default=STEPS, help="vectors per song (default %(default)s)")
    p.add_argument("--k", type=int, help="Gibbs steps per vector (default: the checkpoint's k_generate, 25)")
    p.add_argument("--primer", help="a MIDI file to prime every song with (default: random songs of --data)")
    p.add_argument("--no-primer", action="store_true", help="start from silence instead of a primer")
    p.add_argument("--prime-length", type=int, default=PRIME_LENGTH, help="primer vectors (default %(default)s)")
    p.add_argument("--data", default=MIDI_DIR, help="folder to draw primers from (default %(default)s)")
    p.add_argument("--out", default=OUT_DIR, help="output folder (default %(default)s)")
    p.add_argument("--chain-start", choices=["silence", "previous"], default="silence",
                   help="where each vector's Gibbs chain starts: silence (default) or the previous "
                        "vector, as the original code did")
    p.add_argument("--seed", type=int, help="random seed (default: different songs every run)")
    return p.parse_args(argv)


def resolve_checkpoint(path):
    """A checkpoint prefix from a prefix or a folder of epoch_<n> checkpoints."""
    if os.path.isdir(path) and not rnn_rbm.checkpoint_exists(path):
        found = rnn_rbm.epoch_checkpoints(path)
        if not found:
            raise rnn_rbm.CheckpointError("{}: folder holds no epoch_<n> checkpoint; pass a checkpoint "
                                          "prefix such as parameter_checkpoints/pretrained".format(path))
        return found[max(found)]
    return path


def random_song(folder, num_timesteps, rng):
    """A randomly picked readable song of `folder` as vectors; reads only the files it tries."""
    files = midi_manipulation.midi_files(folder)
    for i in rng.permutation(len(files)):
        try:
            song = midi_manipulation.get_song(files[i], num_timesteps)
        except midi_manipulation.MidiFileError as e:
            print("skipping {}".format(e), file=sys.stderr)
            continue
        if len(song):
            return song
    raise midi_manipulation.MidiFileError("{}: no readable MIDI file to prime with; pass --primer "
                                          "or --no-primer".format(folder))


def primers(args, hparams, rng):
    """`[num, prime_length, n_visible]` primer vectors (prime_length 0 without a primer)."""
    if args.no_primer or not hparams.articulation:
        # Benchmark models read 88-key frames; MIDI primers are in the note-state layout.
        return np.zeros((args.num, 0, hparams.n_visible), np.float32)
    if args.primer:
        songs = [midi_manipulation.get_song(args.primer, hparams.num_timesteps)] * args.num
    else:
        songs = [random_song(args.data, hparams.num_timesteps, rng) for _ in range(args.num)]
    length = min([args.prime_length] + [len(s) for s in songs])
    return np.stack([s[:length] for s in songs]).astype(np.float32)


def to_note_states(song, hparams):
    """Generated vectors `[steps, n_visible]` -> note-state frames `[steps*num_timesteps, 2*span]`."""
    frames = song.reshape(-1, song.shape[1] // hparams.num_timesteps)
    if hparams.articulation:
        return frames
    # Play-only frames: a note is struck wherever it was silent the frame before.
    previous = np.vstack([np.zeros_like(frames[:1]), frames[:-1]])
    return np.hstack([frames, frames * (1 - previous)])


def free_path(folder, stem):
    """`folder/stem_<i>.mid` for the smallest i not already taken."""
    i = 0
    while os.path.exists(os.path.join(folder, "{}_{}.mid".format(stem, i))):
        i += 1
    return os.path.join(folder, "{}_{}.mid".format(stem, i))


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    if args.seed is not None:
        tf.random.set_seed(args.seed)
    try:
        prefix = resolve_checkpoint(args.saved_weights_path)
        model = rnn_rbm.load(prefix)
        primer = primers(args, model.hparams, rng)
    except (rnn_rbm.CheckpointError, OSError, ValueError) as e:
        sys.exit("error: {}".format(e))
    if args.k is not None:
        model.hparams.k_generate = args.k
    sampler = rnn_rbm.make_sampler(model, chain_from_previous=args.chain_start == "previous")
    songs = sampler(tf.constant(args.steps), tf.constant(primer)).numpy()
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.basename(os.path.normpath(prefix))
    for song in songs:
        frames = to_note_states(song, model.hparams)
        path = free_path(args.out, stem)
        bounds = dict(lowerBound=model.hparams.lowest_note, upperBound=model.hparams.highest_note)
        midi_manipulation.noteStateMatrixToMidi(frames, name=path, **bounds)
        print("wrote {}  ({} notes)".format(path, midi_manipulation.count_notes(frames, **bounds)))


if __name__ == "__main__":
    main()
