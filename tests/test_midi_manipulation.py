"""Tests for midi_manipulation: reading, writing and folder loading of MIDI files."""
import re
import struct
from collections import Counter

import mido
import numpy as np
import pytest

import layout
import midi_manipulation as mm
from midi_manipulation import MidiFileError, span

TICKS = 96  # ticks per beat in the hand-made song: one 16th-note frame = 24 ticks


def _track(timed):
    """MidiTrack from `[(absolute_tick, message)]` in order."""
    track, last = mido.MidiTrack(), 0
    for tick, message in timed:
        track.append(message.copy(time=tick - last))
        last = tick
    return track


def _on(note, channel, velocity=90):
    return mido.Message("note_on", note=note, channel=channel, velocity=velocity)


def _off(note, channel):
    return mido.Message("note_off", note=note, channel=channel)


# Tempo and meter change mid-song: 3/4, then 4/4 at tick 288, then 6/8 at 672.
CONDUCTOR = [
    (0, mido.MetaMessage("set_tempo", tempo=500000)),
    (0, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
    (288, mido.MetaMessage("set_tempo", tempo=400000)),
    (288, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
    (672, mido.MetaMessage("time_signature", numerator=6, denominator=8)),
    (800, mido.MetaMessage("end_of_track")),
]
# Channel 0. Velocity-0 note_ons end most notes; 20 and 110 are out of range.
MELODY = [
    (0, _on(60, 0)), (0, _on(64, 0)), (0, _on(20, 0)), (24, _on(110, 0)),
    (48, _on(60, 0, 0)), (48, _on(110, 0, 0)), (96, _on(64, 0, 0)), (96, _on(20, 0, 0)),
    (100, _on(67, 0)), (110, _off(67, 0)),  # starts and ends inside frame 4
    (144, _on(72, 0)), (192, _on(72, 0)), (240, _on(72, 0, 0)),  # struck again while held
    (336, _on(55, 0)), (432, _on(55, 0, 0)),  # joins the bass's 55 on another channel
    (672, _on(24, 0)), (696, _on(24, 0, 0)),  # lowest pitch kept, after the 6/8 change
    (700, _on(101, 0)), (760, _on(101, 0, 0)),  # highest pitch kept
]
BASS = [
    (0, _on(48, 1)), (192, _off(48, 1)), (192, _on(48, 1)), (288, _off(48, 1)),
    (288, _on(55, 1)), (384, _off(55, 1)),
    (720, _on(36, 1)),  # never released: rings to the end of the song
]
DRUMS = [(0, _on(38, 9)), (24, _off(38, 9)), (48, _on(42, 9)), (72, _off(42, 9))]

# (pitch, first frame played, last frame played, frames struck), worked out by
# hand: frame = tick // 24, last frame = (release tick - 1) // 24.
EXPECTED_NOTES = [
    (60, 0, 1, [0]), (64, 0, 3, [0]), (67, 4, 4, [4]), (72, 6, 9, [6, 8]),
    (48, 0, 11, [0, 8]), (55, 12, 17, [12, 14]), (24, 28, 28, [28]),
    (101, 29, 31, [29]), (36, 30, 33, [30]),
]
EXPECTED_FRAMES = 34  # end_of_track at tick 800 lies inside frame 33


def _expected_matrix():
    matrix = np.zeros((EXPECTED_FRAMES, 2 * span), dtype=np.uint8)
    for pitch, first, last, strikes in EXPECTED_NOTES:
        matrix[first:last + 1, pitch - mm.lowerBound] = 1
        matrix[strikes, span + pitch - mm.lowerBound] = 1
    return matrix


def _save_type1(path):
    tracks = [_track(part) for part in (CONDUCTOR, MELODY, BASS, DRUMS)]
    mido.MidiFile(type=1, ticks_per_beat=TICKS, tracks=tracks).save(path)
    return str(path)


def _save_type0(path):
    timed = [event for part in (CONDUCTOR, MELODY, BASS, DRUMS) for event in part]
    timed.sort(key=lambda event: event[0])  # stable: ties keep track order
    mido.MidiFile(type=0, ticks_per_beat=TICKS, tracks=[_track(timed)]).save(path)
    return str(path)


def _random_matrix(seed, n_frames=64):
    """Valid matrix: held notes, gapless re-strikes, chords, both range edges,
    2+ silent frames at the start and exactly 3 at the end."""
    rng = np.random.default_rng(seed)
    matrix = np.zeros((n_frames, 2 * span), dtype=np.uint8)
    pitches = [0, span - 1] + list(rng.choice(np.arange(1, span - 1), 20, replace=False))
    for index in pitches:
        frame = int(rng.integers(2, 6))
        while True:
            length = int(rng.integers(1, 6))
            if frame + length > n_frames - 3:
                break
            matrix[frame:frame + length, index] = 1
            matrix[frame, span + index] = 1
            frame += length + int(rng.integers(0, 4))  # a 0 gap re-strikes at once
    matrix[n_frames - 4, span - 1] = matrix[n_frames - 4, 2 * span - 1] = 1  # last sounding row
    return matrix


def test_random_matrix_has_the_features_the_round_trip_must_cover():
    matrix = _random_matrix(0)
    play, strike = matrix[:, :span], matrix[:, span:]
    assert (play[1:] & play[:-1] & strike[1:]).any()  # re-strike of a held pitch
    assert (play[1:] & ~strike[1:] & 1).any()  # held pitch
    assert play.sum(axis=1).max() >= 3  # chords
    assert play[:, 0].any() and play[:, span - 1].any()
    assert not matrix[:2].any() and not matrix[-3:].any() and matrix[-4].any()


def test_matrix_survives_writing_and_reading_exactly(tmp_path):
    matrix = _random_matrix(0)
    path = mm.noteStateMatrixToMidi(matrix, str(tmp_path / "song"))
    assert path == str(tmp_path / "song.mid")
    np.testing.assert_array_equal(mm.midiToNoteStateMatrix(path), matrix)


def test_written_file_is_well_formed(tmp_path):
    matrix = _random_matrix(1)
    midi = mido.MidiFile(mm.noteStateMatrixToMidi(matrix, str(tmp_path / "x.MIDI")))
    assert midi.filename.endswith("x.MIDI")
    assert midi.type == 0 and midi.ticks_per_beat == 480
    track = midi.tracks[0]
    assert track[-1].type == "end_of_track"
    assert sum(message.time for message in track) == 64 * 120  # trailing silence kept
    types = {message.type for message in track}
    assert {"set_tempo", "time_signature"} <= types
    sounding = Counter()
    for message in track:
        if message.type == "note_on":
            assert sounding[message.note] == 0, "note struck twice without a note_off"
            sounding[message.note] += 1
        elif message.type == "note_off":
            assert sounding[message.note] == 1, "note_off without a note_on"
            sounding[message.note] -= 1
    assert not +sounding
    struck = {m.note for m in track if m.type == "note_on"}
    assert {mm.lowerBound, mm.upperBound - 1} <= struck


def test_writer_accepts_probabilities_and_the_old_layout(tmp_path):
    matrix = _random_matrix(2)
    probabilities = matrix * 0.8 + 0.1
    np.testing.assert_array_equal(
        mm.midiToNoteStateMatrix(mm.noteStateMatrixToMidi(probabilities, str(tmp_path / "p"))),
        matrix)
    stacked = np.dstack((matrix[:, :span], matrix[:, span:]))  # [T, span, 2]
    np.testing.assert_array_equal(
        mm.midiToNoteStateMatrix(mm.noteStateMatrixToMidi(stacked, str(tmp_path / "s"))),
        matrix)


def test_writer_starts_notes_the_matrix_implies(tmp_path):
    # Pitch 0: play without articulate from silence -> a new note is struck.
    # Pitch 1: articulate without play -> ignored.
    matrix = np.zeros((3, 2 * span), dtype=np.uint8)
    matrix[1:, 0] = 1
    matrix[0, span + 1] = 1
    read = mm.midiToNoteStateMatrix(mm.noteStateMatrixToMidi(matrix, str(tmp_path / "a")))
    expected = np.zeros((3, 2 * span), dtype=np.uint8)
    expected[1:, 0] = 1
    expected[1, span] = 1
    np.testing.assert_array_equal(read, expected)


def test_count_notes_matches_the_note_ons_written(tmp_path):
    # Pitch 0: held over frames 0-2 and re-struck at 2 -> 2 notes. Pitch 1: play without
    # articulate from silence -> 1 note. Pitch 2: articulate without play -> none.
    matrix = np.zeros((4, 2 * span), dtype=np.uint8)
    matrix[0:3, 0] = matrix[0, span] = matrix[2, span] = 1
    matrix[1, 1] = 1
    matrix[3, span + 2] = 1
    assert mm.count_notes(matrix) == 3
    for seed in range(3):
        matrix = _random_matrix(seed)
        midi = mido.MidiFile(mm.noteStateMatrixToMidi(matrix, str(tmp_path / f"r{seed}")))
        note_ons = sum(m.type == "note_on" and m.velocity > 0 for m in midi.tracks[0])
        assert mm.count_notes(matrix) == note_ons > matrix[:, span:].sum() / 2


def test_writer_rejects_wrong_width(tmp_path):
    with pytest.raises(ValueError, match=r"expected \[frames, 156\]"):
        mm.noteStateMatrixToMidi(np.zeros((4, 100)), str(tmp_path / "w"))


def test_reads_hand_made_type1_file(tmp_path):
    path = _save_type1(tmp_path / "song.mid")
    # mido writes running status; make sure the file really relies on it:
    # note_on 60 with its status byte, then note_on 64 without one.
    assert bytes([0x90, 60, 90, 0x00, 64, 90]) in open(path, "rb").read()
    np.testing.assert_array_equal(mm.midiToNoteStateMatrix(path), _expected_matrix())


def test_type0_file_reads_like_type1(tmp_path):
    path = _save_type0(tmp_path / "song0.mid")
    assert mido.MidiFile(path).type == 0
    np.testing.assert_array_equal(mm.midiToNoteStateMatrix(path), _expected_matrix())


def _write_not_midi(path):
    path.write_text("these are lyrics, not music\n")


def _write_truncated(path):
    _save_type1(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _write_empty(path):
    path.write_bytes(b"")


def _write_no_notes(path):
    mido.MidiFile(type=1, ticks_per_beat=TICKS, tracks=[_track(CONDUCTOR)]).save(path)


def _write_smpte(path):
    events = bytes([0x00, 0x90, 60, 90, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00])
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 0xE728)  # -25 fps, 40 per frame
    path.write_bytes(header + b"MTrk" + struct.pack(">I", len(events)) + events)


def _write_type2(path):
    tracks = [_track(MELODY), _track(BASS)]
    mido.MidiFile(type=2, ticks_per_beat=TICKS, tracks=tracks).save(path)


BAD_FILES = {
    "not_midi": (_write_not_midi, "not a MIDI file"),
    "truncated": (_write_truncated, "truncated or corrupt"),
    "empty": (_write_empty, "empty file"),
    "no_notes": (_write_no_notes, "no notes between MIDI pitch 24 and 101"),
    "smpte": (_write_smpte, "SMPTE time"),
    "type2": (_write_type2, "type 2"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_gives_one_line_error_naming_it(tmp_path, kind):
    write, problem = BAD_FILES[kind]
    path = tmp_path / f"{kind}.mid"
    write(path)
    with pytest.raises(MidiFileError) as caught:
        mm.midiToNoteStateMatrix(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message
    assert "\n" not in message and "; " in message  # says what to do, on one line


def test_missing_file_gives_error_naming_it(tmp_path):
    path = str(tmp_path / "gone.mid")
    with pytest.raises(MidiFileError, match="gone.mid: no such file"):
        mm.get_song(path)


def _song_folder(tmp_path):
    folder = tmp_path / "songs"
    folder.mkdir()
    _save_type1(folder / "a_good.mid")  # 34 frames
    mm.noteStateMatrixToMidi(_random_matrix(3), str(folder / "b_good.MIDI"))  # 64 frames
    mm.noteStateMatrixToMidi(_random_matrix(4, n_frames=12), str(folder / "c_short.mid"))
    (folder / "notes.txt").write_text("not a song")
    for kind, (write, _) in BAD_FILES.items():
        write(folder / f"d_{kind}.mid")
    return folder


def test_get_songs_keeps_good_files_and_warns_once_per_bad_one(tmp_path):
    folder = _song_folder(tmp_path)
    with pytest.warns(UserWarning) as caught:
        songs = mm.get_songs(str(folder), num_timesteps=5, min_frames=20)
    assert [song.shape for song in songs] == [(6, 5 * 2 * span), (12, 5 * 2 * span)]
    np.testing.assert_array_equal(songs[0].reshape(-1, 2 * span), _expected_matrix()[:30])
    np.testing.assert_array_equal(songs[1].reshape(-1, 2 * span), _random_matrix(3)[:60])
    named = sorted(str(w.message).split(": ")[0].replace("skipping ", "") for w in caught)
    skipped = ["c_short.mid"] + [f"d_{kind}.mid" for kind in sorted(BAD_FILES)]
    assert named == [str(folder / name) for name in skipped]
    assert "12 16th-note frames" in str(caught[0].message)


def test_get_songs_says_when_nothing_is_usable(tmp_path):
    _write_empty(tmp_path / "only.mid")
    usable = re.escape(f"{tmp_path}: none of its 1 MIDI files")
    with pytest.warns(UserWarning, match="only.mid"):
        with pytest.raises(MidiFileError, match=usable):
            mm.get_songs(str(tmp_path))


def test_get_songs_needs_an_existing_folder_with_midi_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: folder not found"):
        mm.get_songs(str(tmp_path / "nowhere"))
    (tmp_path / "readme.txt").write_text("no music here")
    no_midi = re.escape(f"{tmp_path}: no .mid or .midi files")
    with pytest.raises(FileNotFoundError, match=no_midi):
        mm.get_songs(str(tmp_path))


def test_get_song_and_write_song_invert_each_other(tmp_path):
    matrix = _random_matrix(5)
    song = mm.get_song(mm.noteStateMatrixToMidi(matrix, str(tmp_path / "in")), 5)
    assert song.shape == (12, 5 * 2 * span) and song.dtype == np.uint8
    np.testing.assert_array_equal(song.reshape(-1, 2 * span), matrix[:60])
    np.testing.assert_array_equal(song[1, :2 * span], matrix[5])  # rows are 5 whole frames
    written = mm.write_song(str(tmp_path / "out.mid"), song, num_timesteps=5)
    assert written == str(tmp_path / "out.mid")
    np.testing.assert_array_equal(mm.get_song(written, num_timesteps=5), song)
    with pytest.raises(ValueError, match="expected \\[rows, 624\\]"):  # 4 frames by default
        mm.write_song(str(tmp_path / "bad"), song[:, :100])


def test_original_names_hold_the_shared_layout():
    assert (mm.lowerBound, mm.upperBound) == (layout.LOWEST_NOTE, layout.HIGHEST_NOTE) == (24, 102)
    assert (mm.span, mm.num_timesteps, mm.FRAMES_PER_BEAT) == (78, 4, 4)  # one beat a vector


def test_get_songs_shows_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, capsys):
    mm.noteStateMatrixToMidi(_random_matrix(6), str(tmp_path / "song"))
    assert len(mm.get_songs(str(tmp_path), min_frames=20)) == 1
    assert capsys.readouterr().err == ""
