"""Training material: songs moved to C, and the layout checks."""
import numpy as np
import pytest

import data
import layout
import rnn_rbm

SPAN = layout.SPAN


def song_of(pitches_by_frame, num_timesteps=2):
    """Note-state vectors `[rows, num_timesteps * 2 * SPAN]` striking the given MIDI pitches."""
    frames = np.zeros((len(pitches_by_frame), 2 * SPAN), np.uint8)
    for t, pitches in enumerate(pitches_by_frame):
        for p in pitches:
            frames[t, p - layout.LOWEST_NOTE] = frames[t, SPAN + p - layout.LOWEST_NOTE] = 1
    return frames.reshape(len(frames) // num_timesteps, -1)


def pitches_of(song, num_timesteps=2):
    frames = song.reshape(len(song) * num_timesteps, -1)
    return [sorted(int(k) + layout.LOWEST_NOTE for k in np.flatnonzero(f[:SPAN])) for f in frames]


def scale(tonic, octave_start):
    """The major scale on `tonic` (a MIDI pitch), one note a frame, from `octave_start` up."""
    return [[octave_start + tonic % 12 + step] for step in (0, 2, 4, 5, 7, 9, 11, 12)]


def test_songs_move_to_c_by_the_fewest_semitones():
    d_major = scale(62, 48)  # D3 .. D4: D major moves down 2
    assert pitches_of(data.to_c(song_of(d_major), 2)) == [[p - 2] for (p,) in d_major]
    g_major = scale(67, 48)  # G3 .. G4: G major moves up 5, not down 7
    assert pitches_of(data.to_c(song_of(g_major), 2)) == [[p + 5] for (p,) in g_major]
    c_major = song_of(scale(60, 48))
    np.testing.assert_array_equal(data.to_c(c_major, 2), c_major)


def test_notes_moved_past_either_end_of_the_range_are_dropped():
    top, bottom = layout.HIGHEST_NOTE - 1, layout.LOWEST_NOTE  # MIDI 101 (F) and 24 (C)
    g_major = scale(67, 48) + [[top - 3], [62]]  # D7 = 98 is in G major; moved up 5 it leaves
    moved = pitches_of(data.to_c(song_of(g_major), 2))
    assert moved[:8] == [[p + 5] for (p,) in g_major[:8]] and moved[8:] == [[], [67]]
    d_major = scale(62, 48) + [[bottom + 1], [62]]  # C#1 = 25 is in D major; moved down 2 it leaves
    moved = pitches_of(data.to_c(song_of(d_major), 2))
    assert moved[:8] == [[p - 2] for (p,) in d_major[:8]] and moved[8:] == [[], [60]]


def test_the_layout_check_names_the_source():
    with pytest.raises(ValueError, match="x.json: benchmark frames are 88 keys"):
        data.check_layout(rnn_rbm.HParams(), dataset="x.json")
    with pytest.raises(ValueError, match="songs: MIDI folders are read as"):
        data.check_layout(rnn_rbm.paper_hparams(), midi_dir="songs")
