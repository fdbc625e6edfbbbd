"""The shipped training folder Pop_Music_Midi/: every file trains, the folder's figures hold.

Needs only the runtime packages (numpy, mido): the folder is built by
scripts/build_pop_music_midi.py with music21, which is not installed here.
"""
import functools
import os
import re

import mido
import numpy as np
import pytest

import layout
import midi_manipulation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(ROOT, layout.MIDI_DIR)
MIN_FRAMES = 50
SPAN = midi_manipulation.span


def _midi_names():
    if not os.path.isdir(FOLDER):
        return []
    return sorted(n for n in os.listdir(FOLDER) if n.lower().endswith((".mid", ".midi")))


NAMES = _midi_names()


@functools.cache
def _matrix(name):
    return midi_manipulation.midiToNoteStateMatrix(os.path.join(FOLDER, name))


def test_folder_has_at_least_100_midi_files():
    assert len(NAMES) >= 100, f"{FOLDER} holds {len(NAMES)} MIDI files"


def test_folder_is_small():
    size = sum(os.path.getsize(os.path.join(FOLDER, n)) for n in os.listdir(FOLDER))
    assert size < 5_000_000, f"{FOLDER} is {size} bytes"


@pytest.mark.parametrize("name", NAMES)
def test_file_parses_and_is_long_enough(name):
    matrix = _matrix(name)
    assert matrix.dtype == np.uint8
    assert matrix.shape[1] == 2 * SPAN
    assert len(matrix) >= MIN_FRAMES, f"{name}: {len(matrix)} frames"
    assert matrix[:, :SPAN].any(axis=1).sum() >= MIN_FRAMES // 2, f"{name}: mostly silent"
    # Articulate implies play, so the matrix is one that write_song can replay.
    assert not (matrix[:, SPAN:] & ~matrix[:, :SPAN] & 1).any()


@pytest.mark.parametrize("name", NAMES)
def test_every_note_is_within_the_matrix_range(name):
    """No note would be dropped silently by midi_manipulation's 24..101 range."""
    midi = mido.MidiFile(os.path.join(FOLDER, name))
    pitches = {m.note for track in midi.tracks for m in track
               if m.type == "note_on" and m.velocity > 0 and m.channel != 9}
    assert pitches, f"{name}: no notes"
    low, high = midi_manipulation.lowerBound, midi_manipulation.upperBound - 1
    assert low <= min(pitches) and max(pitches) <= high, \
        f"{name}: pitches {min(pitches)}..{max(pitches)} outside {low}..{high}"


def test_most_sounding_frames_are_polyphonic():
    sounding = polyphonic = notes = 0
    for name in NAMES:
        per_frame = _matrix(name)[:, :SPAN].sum(axis=1)
        sounding += int((per_frame >= 1).sum())
        polyphonic += int((per_frame >= 2).sum())
        notes += int(per_frame.sum())
    assert sounding > 0
    share = polyphonic / sounding
    assert share >= 0.5, f"only {share:.1%} of sounding frames hold two or more notes"
    assert notes / sounding >= 2.0


def test_get_songs_reads_every_file():
    songs = midi_manipulation.get_songs(FOLDER, num_timesteps=5, min_frames=MIN_FRAMES)
    assert len(songs) == len(NAMES)
    assert all(song.shape[1] == 5 * 2 * SPAN and len(song) >= MIN_FRAMES // 5 for song in songs)


def test_readme_lists_every_file_with_its_source():
    with open(os.path.join(FOLDER, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    listed = re.findall(r"^\| `([^`]+\.mid)` \|", readme, flags=re.M)
    assert sorted(listed) == NAMES
    for line in readme.splitlines():
        if line.startswith("| `") and ".mid`" in line:
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            assert cells[1] and cells[2], line  # work title, composer or collection
            assert re.fullmatch(r"`[^`]+`.*", cells[3]), line  # music21 corpus path
    assert "build_pop_music_midi.py" in readme
    assert "scripts/requirements-build.txt" in readme
