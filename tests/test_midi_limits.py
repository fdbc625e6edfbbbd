"""The MIDI reader's limits: any file gives a matrix or a one-line `MidiFileError`, soon and small.

Files are built here byte by byte, as a list of `(delta, event_bytes)` per track, so that a mutant
can put a huge delta exactly where a delta belongs as well as damage bytes anywhere.
"""
import struct
import time
import tracemalloc
import warnings

import mido
import numpy as np
import pytest

import midi_manipulation as mm
from midi_manipulation import MidiFileError, span

TIME_BUDGET = 2.0  # seconds for one file, memory tracing included
MEMORY_BUDGET = 200 * 2 ** 20  # bytes traced at the peak of reading one file
SMALL_BUDGET = 8 * 2 ** 20  # for a tiny file refused before its matrix is allocated
N_MUTANTS = 300
END = (0, b"\xff\x2f\x00")  # end_of_track


def _varint(value):
    """`value` as a MIDI variable-length number, any length."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | value & 0x7F)
        value >>= 7
    return bytes(reversed(groups))


def _assemble(tracks, ticks_per_beat=480, kind=1, n_tracks=None):
    """MIDI bytes from `[[(delta, event_bytes)]]`; the header may claim another track count."""
    header = struct.pack(">hhh", kind, len(tracks) if n_tracks is None else n_tracks,
                         ticks_per_beat)
    chunks = [b"MThd" + struct.pack(">I", 6) + header]
    for events in tracks:
        body = b"".join(_varint(delta) + raw for delta, raw in events)
        chunks.append(b"MTrk" + struct.pack(">I", len(body)) + body)
    return b"".join(chunks)


def _on(note, channel=0, velocity=90):
    return bytes([0x90 | channel, note, velocity])


def _off(note, channel=0):
    return bytes([0x80 | channel, note, 0])


def _meta(kind, data):
    return bytes([0xFF, kind]) + _varint(len(data)) + data


def _read(path, **limits):
    """`(outcome, seconds, peak_bytes)` of reading `path`: a matrix or the `MidiFileError`."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        outcome = mm.midiToNoteStateMatrix(str(path), **limits)
    except MidiFileError as err:
        outcome = err
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, seconds, peak


def _assert_refused(path, problem, **limits):
    outcome, seconds, peak = _read(path, **limits)
    assert isinstance(outcome, MidiFileError), f"{path} was read, {outcome.shape}"
    message = str(outcome)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message
    assert "; " in message  # what to do follows what is wrong
    assert seconds < 1.0 and peak < SMALL_BUDGET, (seconds, peak)
    return message


# --- files made to cost the reader as much as their few bytes can ---------------------------------

def test_37_byte_file_holding_a_note_ten_million_ticks_is_refused_at_once(tmp_path):
    # ticks_per_beat 1: 4 * 10**7 frames, a 6 GB matrix, 30 s of filling it without the limit.
    data = _assemble([[(0, _on(60)), (10 ** 7, _off(60)), END]], ticks_per_beat=1, kind=0)
    assert len(data) == 37
    (tmp_path / "held.mid").write_bytes(data)
    message = _assert_refused(tmp_path / "held.mid", "40000000 16th-note frames long")
    assert f"more than the {mm.MAX_FRAMES} allowed" in message and "--max-frames" in message


def test_43_byte_file_with_a_huge_delta_before_a_text_event_is_refused_at_once(tmp_path):
    # 2**30 frames of 156 bytes: the 156 GiB matrix the text event's tick would ask for.
    events = [(0, _on(60)), (1, _off(60)), (2 ** 28 - 1, _meta(0x01, b"hi")), END]
    data = _assemble([events], ticks_per_beat=1, kind=0)
    assert len(data) == 43
    (tmp_path / "text.mid").write_bytes(data)
    _assert_refused(tmp_path / "text.mid", f"{2 ** 30} 16th-note frames long")


def test_a_delta_of_any_length_is_refused_without_reading_it_as_a_number(tmp_path):
    # 200 bytes: a number far too long to print; 5,000: past the run mido would read in
    # quadratic time.
    for n_bytes, problem in ((200, "over 10^18 16th-note frames"), (5000, "bytes in a row")):
        path = tmp_path / f"delta{n_bytes}.mid"
        huge = 2 ** (7 * n_bytes - 1)
        path.write_bytes(_assemble([[(0, _on(60)), (huge, _off(60)), END]]))
        _assert_refused(path, problem)


def _gap_song(path, gap_frames, ticks_per_beat=4):
    """A note, `gap_frames` silent frames, a note: `gap_frames + 2` frames in all."""
    events = [(0, _on(60)), (1, _off(60)), (gap_frames, _on(62)), (1, _off(62)), END]
    path.write_bytes(_assemble([events], ticks_per_beat=ticks_per_beat))
    return str(path)


def test_long_silence_is_refused_unless_the_limit_is_raised(tmp_path):
    path = _gap_song(tmp_path / "gap.mid", mm.MAX_SILENT_FRAMES + 1)
    _assert_refused(path, f"{mm.MAX_SILENT_FRAMES + 1} 16th-note frames in a row with no note")
    matrix = mm.midiToNoteStateMatrix(path, max_silent_frames=mm.MAX_SILENT_FRAMES + 1)
    assert matrix.shape == (mm.MAX_SILENT_FRAMES + 3, 2 * span)
    assert matrix[:, :span].sum() == 2 and not matrix[1:-1].any()
    # Silence at the start and at the end counts too.
    late = [(0, _meta(0x01, b"x")), (100, _on(60)), (1, _off(60)), END]
    early = [(0, _on(60)), (1, _off(60)), (200, END[1])]
    for name, events, silence in (("late", late, 100), ("early", early, 200)):
        (tmp_path / f"{name}.mid").write_bytes(_assemble([events], ticks_per_beat=4))
        _assert_refused(tmp_path / f"{name}.mid", f"{silence} 16th-note frames in a row",
                        max_silent_frames=silence - 1)


def test_each_limit_is_a_keyword_of_the_readers(tmp_path):
    path = _gap_song(tmp_path / "song.mid", 60)  # 62 frames, 60 of them silent
    size = len(open(path, "rb").read())
    assert mm.midiToNoteStateMatrix(path).shape == (62, 2 * span)
    _assert_refused(path, "62 16th-note frames long, more than the 61", max_frames=61)
    _assert_refused(path, "60 16th-note frames in a row", max_silent_frames=59)
    _assert_refused(path, f"{size} bytes, more than the {size - 1}", max_bytes=size - 1)
    too_tight = {"max_frames": 61, "max_silent_frames": 59, "max_bytes": size - 1}
    for limit, value in too_tight.items():
        with pytest.raises(MidiFileError, match=limit):
            mm.get_song(path, 2, **{limit: value})
        with pytest.warns(UserWarning, match=limit), pytest.raises(MidiFileError):
            mm.get_songs(str(tmp_path), 2, 10, **{limit: value})
    assert mm.get_song(path, 2, max_frames=62, max_silent_frames=60, max_bytes=size).shape == (
        31, 2 * 2 * span)


def test_a_header_claiming_thousands_of_tracks_costs_no_more_than_its_bytes(tmp_path):
    song = [(0, _on(60)), (8, _off(60)), END]
    (tmp_path / "claims.mid").write_bytes(_assemble([song], n_tracks=32767))
    _assert_refused(tmp_path / "claims.mid", "truncated or corrupt")
    (tmp_path / "many.mid").write_bytes(_assemble([[END]] * 3000 + [song], ticks_per_beat=4))
    outcome, seconds, peak = _read(tmp_path / "many.mid")
    assert outcome.shape == (8, 2 * span) and seconds < TIME_BUDGET and peak < MEMORY_BUDGET


# --- get_songs: one bad file costs nothing but itself ---------------------------------------------

def _good_song(path, seed):
    rng = np.random.default_rng(seed)
    matrix = np.zeros((64, 2 * span), dtype=np.uint8)
    for frame in range(0, 64, 4):
        pitches = rng.choice(span, 3, replace=False)
        matrix[frame:frame + 3, pitches] = 1
        matrix[frame, span + pitches] = 1
    return mm.noteStateMatrixToMidi(matrix, str(path)), matrix


def test_get_songs_keeps_the_good_songs_and_warns_once_per_bad_file(tmp_path, monkeypatch):
    _, first = _good_song(tmp_path / "a_good.mid", 0)
    _, second = _good_song(tmp_path / "c_good.mid", 1)
    (tmp_path / "b_held.mid").write_bytes(
        _assemble([[(0, _on(60)), (10 ** 7, _off(60)), END]], ticks_per_beat=1, kind=0))
    (tmp_path / "d_cut.mid").write_bytes(open(tmp_path / "a_good.mid", "rb").read()[:-9])
    _good_song(tmp_path / "e_odd.mid", 2)
    read = mm.midiToNoteStateMatrix

    def reader_that_fails_on_e(path, **limits):
        # Stands for any failure the reader was not written to expect.
        if path.endswith("e_odd.mid"):
            raise RecursionError("maximum recursion depth exceeded\nwhile reading")
        return read(path, **limits)

    monkeypatch.setattr(mm, "midiToNoteStateMatrix", reader_that_fails_on_e)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        songs = mm.get_songs(str(tmp_path), num_timesteps=4, min_frames=16)
    assert len(songs) == 2
    np.testing.assert_array_equal(songs[0].reshape(-1, 2 * span), first)
    np.testing.assert_array_equal(songs[1].reshape(-1, 2 * span), second)
    messages = [str(w.message) for w in caught]
    assert [m.split(": ")[0] for m in messages] == [
        f"skipping {tmp_path / name}" for name in ("b_held.mid", "d_cut.mid", "e_odd.mid")]
    assert all("\n" not in m and "; " in m for m in messages)
    assert "16th-note frames long" in messages[0] and "corrupt" in messages[1]
    assert "RecursionError maximum recursion depth exceeded while reading" in messages[2]


def test_get_songs_still_raises_when_no_file_is_usable(tmp_path):
    (tmp_path / "held.mid").write_bytes(
        _assemble([[(0, _on(60)), (10 ** 7, _off(60)), END]], ticks_per_beat=1, kind=0))
    with pytest.warns(UserWarning, match="held.mid"):
        with pytest.raises(MidiFileError, match="none of its 1 MIDI files is usable"):
            mm.get_songs(str(tmp_path))


# --- fuzzing: a few hundred damaged versions of two small real files ------------------------------

def _seed_tracks(tmp_path):
    """Two small files as `[[(delta, event_bytes)]]`: one written by the module, one by hand."""
    path, _ = _good_song(tmp_path / "seed.mid", 3)
    written = [[(m.time, bytes(m.bytes())) for m in track] for track in mido.MidiFile(path).tracks]
    conductor = [(0, _meta(0x51, b"\x07\xa1\x20")), (0, _meta(0x58, b"\x04\x02\x18\x08")),
                 (0, _meta(0x05, "歌詞".encode())), (960, _meta(0x59, b"\x00\x00")), END]
    melody = [(0, bytes([0xC0, 40])), (0, _on(60)), (120, _on(64)), (120, _off(60)),
              (0, bytes([0xB0, 7, 100])), (120, bytes([0xE0, 0, 64])), (120, _off(64)),
              (0, b"\xf0" + _varint(3) + b"\x7e\x01\xf7"), (240, _on(101)), (480, _off(101)), END]
    drums = [(0, _on(38, 9)), (240, _off(38, 9)), (0, _on(110, 1)), (240, _off(110, 1)), END]
    return [(written, 0), ([conductor, melody, drums], 1)]


def _mutate_tracks(rng, tracks, header):
    """Damage the structure: huge deltas, odd divisions, notes held for ages, many tracks."""
    choice = rng.integers(6)
    track = tracks[rng.integers(len(tracks))]
    at = int(rng.integers(len(track)))
    if choice == 0:  # a huge delta where a delta belongs: up to 10**9 ticks, or 600 bytes long
        if rng.random() < 0.5:
            delta = int(10 ** rng.uniform(4, 9))
        else:
            delta = int(rng.integers(1, 2 ** 62)) << int(rng.integers(0, 4200))
        track[at] = (delta, track[at][1])
    elif choice == 1:  # another division, SMPTE and 0 included
        header["ticks_per_beat"] = int(rng.choice([1, 2, 3, 7, 96, 32767, 0, -6360]))
    elif choice == 2:  # a note held for up to 10**9 ticks
        note = int(rng.integers(24, 102))
        track[at:at] = [(0, _on(note)), (int(10 ** rng.integers(3, 10)), _off(note))]
    elif choice == 3:  # many copies of a track, or a header claiming any number of tracks
        if rng.random() < 0.5:
            tracks.extend([list(track)] * int(rng.integers(2, 50)))
        else:
            header["n_tracks"] = int(rng.choice([0, 1, rng.integers(2, 32768)]))
    elif choice == 4:  # no note ever released
        track[:] = [(d, raw) for d, raw in track if raw[0] & 0xF0 != 0x80]
    else:  # events out of order
        rng.shuffle(track)


def _mutate_bytes(rng, data):
    """Damage the bytes anywhere: flips, cuts, insertions, runs of high bytes, lying lengths."""
    data = bytearray(data)
    choice = rng.integers(5)
    at = int(rng.integers(len(data)))
    if choice == 0:
        for where in rng.integers(len(data), size=int(rng.integers(1, 9))):
            data[where] = int(rng.integers(256))
    elif choice == 1:
        del data[at:]
    elif choice == 2:
        data[at:at] = rng.bytes(int(rng.integers(1, 65)))
    elif choice == 3:
        data[at:at] = bytes(rng.integers(0x80, 0x100, size=int(rng.integers(1, 6000))).tolist())
    else:
        tracks = [i for i in range(len(data)) if data[i:i + 4] == b"MTrk"]
        where = int(rng.choice(tracks)) + 4 if tracks else at
        data[where:where + 4] = struct.pack(">I", int(rng.integers(2 ** 32)))
    return bytes(data)


def _mutant(rng, seeds):
    tracks, kind = seeds[rng.integers(len(seeds))]
    tracks = [list(track) for track in tracks]
    header = {"ticks_per_beat": 480, "n_tracks": None}
    for _ in range(rng.integers(0, 3)):
        _mutate_tracks(rng, tracks, header)
    data = _assemble(tracks, kind=kind, **header)
    return _mutate_bytes(rng, data) if rng.random() < 0.6 else data


def test_damaged_files_give_a_matrix_or_a_midi_file_error_within_budget(tmp_path):
    rng = np.random.default_rng(2012)
    seeds = _seed_tracks(tmp_path)
    path = tmp_path / "mutant.mid"
    problems = []
    for index in range(N_MUTANTS):
        path.write_bytes(_mutant(rng, seeds))
        outcome, seconds, peak = _read(path)
        where = f"mutant {index}: {seconds:.2f} s, {peak / 2 ** 20:.1f} MiB"
        assert seconds < TIME_BUDGET and peak < MEMORY_BUDGET, where
        if isinstance(outcome, MidiFileError):
            message = str(outcome)
            assert message.startswith(f"{path}: ") and "\n" not in message, where
            problems.append(message)
        else:
            assert outcome.dtype == np.uint8 and outcome.shape[1:] == (2 * span,), where
            assert set(np.unique(outcome)) <= {0, 1}, where
    # The mutants reach every kind of refusal, and leave some files readable.
    for problem in ("16th-note frames long", "in a row with no note", "bytes in a row",
                    "truncated or corrupt", "SMPTE", "no notes between"):
        assert any(problem in message for message in problems), problem
    assert len(problems) < N_MUTANTS
