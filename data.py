"""The training material of a model: the songs of a MIDI folder or one split of a benchmark file.

Both come as lists of float32 arrays `[T_i, n_visible]`, one row per visible vector: note-state
matrices with `num_timesteps` 16th-note frames per vector from MIDI (`midi_manipulation.py`), or
88-key piano rolls with one chord per vector from the paper's benchmarks (`benchmark_data.py`).
"""
import numpy as np

import benchmark_data
import layout
import midi_manipulation
import music_metrics

KEYS = ("as-is", "c")  # what `load_songs` does to each song's key
MIN_FRAMES = 50        # shortest song kept, in 16th notes


def check_layout(hparams, midi_dir=None, dataset=None):
    """Raises ValueError (one line, naming the source) if the model cannot read that material."""
    if dataset is not None:
        if (hparams.n_visible, hparams.lowest_note) != (layout.BENCHMARK_KEYS,
                                                        layout.BENCHMARK_LOWEST):
            raise ValueError(f"{dataset}: benchmark frames are {layout.BENCHMARK_KEYS} keys from "
                             f"MIDI {layout.BENCHMARK_LOWEST}, but the model has "
                             f"{hparams.n_visible} visible units from {hparams.lowest_note}; use "
                             f"the paper setting")
    elif not hparams.articulation or (hparams.lowest_note, hparams.highest_note) != (
            layout.LOWEST_NOTE, layout.HIGHEST_NOTE):
        raise ValueError(f"{midi_dir}: MIDI folders are read as [play | articulate] over MIDI "
                         f"{layout.LOWEST_NOTE}..{layout.HIGHEST_NOTE - 1}; this model uses "
                         f"another layout, train it with --dataset")


def to_c(song, num_timesteps, lowest_note=layout.LOWEST_NOTE):
    """A song of note-state vectors `[rows, num_timesteps * 2 * span]` moved by the fewest
    semitones (at most 6, up or down) that put the tonic of its best-fitting major scale
    (`music_metrics.scale_fit`) on C, so a minor song lands in A minor. Notes moved past either
    end of the pitch range are dropped."""
    frames = song.reshape(len(song) * num_timesteps, -1)  # [T, 2 * span]
    span = frames.shape[1] // 2
    tonic, _ = music_metrics.scale_fit(frames, lowest_note)
    shift = -tonic if tonic <= 6 else 12 - tonic
    moved = np.zeros_like(frames)
    for half in (slice(0, span), slice(span, 2 * span)):
        moved[:, half] = np.roll(frames[:, half], shift, axis=1)
        if shift > 0:
            moved[:, half.start:half.start + shift] = 0  # rolled round from the top
        elif shift < 0:
            moved[:, half.stop + shift:half.stop] = 0    # rolled round from the bottom
    return moved.reshape(song.shape)


def to_note_states(song, hparams):
    """Generated vectors `[steps, n_visible]` -> note-state frames
    `[steps * num_timesteps, 2 * span]`."""
    frames = song.reshape(-1, song.shape[1] // hparams.num_timesteps)
    if hparams.articulation:
        return frames
    # Play-only frames: a note is struck wherever it was silent the frame before.
    previous = np.vstack([np.zeros_like(frames[:1]), frames[:-1]])
    return np.hstack([frames, frames * (1 - previous)])


def load_songs(hparams, midi_dir=None, dataset=None, split="train", key="as-is", **limits):
    """The training material as a list of float32 arrays `[T_i, n_visible]`.

    Either every MIDI file in `midi_dir` (note-state matrices with `hparams.num_timesteps` frames
    per vector; `limits` go to `midi_manipulation.get_songs`; `key="c"` moves each song to C with
    `to_c`), or one split of a benchmark file in the paper's format (`dataset`, .json or
    .pickle), whose frames are 88-key piano rolls, as they are. Raises
    FileNotFoundError, midi_manipulation.MidiFileError, benchmark_data.BenchmarkError or
    ValueError with a one-line message naming the path.
    """
    check_layout(hparams, midi_dir, dataset)
    if dataset is not None:
        songs = benchmark_data.load_benchmark(dataset)[split]
        return [np.asarray(s, np.float32) for s in songs if len(s)]
    nt = hparams.num_timesteps
    # Whole matrices first, so that a song's key is found from all its notes, before the last
    # frames that make no whole vector are dropped (as `prepare_data.py` does).
    songs = midi_manipulation.get_songs(midi_dir, num_timesteps=1,
                                        min_frames=max(MIN_FRAMES, nt), **limits)
    if key == "c":
        songs = [to_c(s, 1) for s in songs]
    return [midi_manipulation.to_windows(s, nt).astype(np.float32) for s in songs]
