"""Tests for music_metrics and music_report: each figure on small songs worked out by hand."""
import math
import re

import numpy as np
import pytest

import midi_manipulation
import music_metrics as mx
import music_report
from layout import LOWEST_NOTE, SPAN

C_MAJOR = (60, 64, 67)


def _song(frames, notes):
    """A note-state matrix `[frames, 2*SPAN]` from `(midi_pitch, first_frame, length)` notes,
    each struck in its first frame."""
    matrix = np.zeros((frames, 2 * SPAN), dtype=np.uint8)
    for pitch, first, length in notes:
        matrix[first:first + length, pitch - LOWEST_NOTE] = 1
        matrix[first, SPAN + pitch - LOWEST_NOTE] = 1
    return matrix


def _triad_twice(frames=8):
    """C major held frames 0-3, struck again and held 4-7, then silence up to `frames`."""
    return _song(frames, [(p, start, 4) for p in C_MAJOR for start in (0, 4)])


def test_triad_struck_twice():
    song = _triad_twice()
    assert mx.onsets_per_16th(song) == 6 / 8
    assert mx.notes_per_sounding_16th(song) == 3
    assert mx.silent_share(song) == 0
    assert mx.mean_note_length(song) == 24 / 6
    assert mx.pitch_range(song) == 67 - 60
    assert mx.scale_consistency(song) == 1
    assert mx.on_beat_share(song) == 1
    assert mx.semitone_clash_share(song) == 0
    assert mx.densest_window(song) == 6 / 8  # shorter than 64 frames: one window of 8


def test_silent_frames_count_for_onsets_but_not_for_notes_per_sounding_16th():
    song = _triad_twice(frames=16)
    assert mx.onsets_per_16th(song) == 6 / 16
    assert mx.notes_per_sounding_16th(song) == 3
    assert mx.silent_share(song) == 8 / 16


def test_a_note_that_starts_without_articulation_is_an_onset():
    song = _song(8, [(60, 0, 4)])
    song[6:8, 62 - LOWEST_NOTE] = 1  # sounds from frame 6, never articulated
    song[3, SPAN + 64 - LOWEST_NOTE] = 1  # articulated but silent: no note
    assert mx.onsets_per_16th(song) == 2 / 8
    assert mx.mean_note_length(song) == (4 + 2) / 2


def test_semitone_clashes():
    cluster = _song(4, [(60, 0, 4), (61, 0, 4)])
    assert mx.semitone_clash_share(cluster) == 1
    # C and C# an octave and more apart: a minor ninth, not counted.
    assert mx.semitone_clash_share(_song(4, [(60, 0, 4), (73, 0, 4)])) == 0
    half = _song(10, [(p, 0, 4) for p in C_MAJOR] + [(60, 4, 4), (61, 4, 4)])
    assert mx.semitone_clash_share(half) == 4 / 8  # the silent frames 8-9 are not counted


def test_scale_consistency_of_a_chromatic_cluster():
    # C, C# and D: no major scale holds three adjacent semitones, Db major holds C and C#.
    assert mx.scale_consistency(_song(4, [(60, 0, 1), (61, 1, 1), (62, 2, 1)])) == 2 / 3
    # C major plus one F#: 6 of 7 onsets fit C major (or G major).
    seven = [(p, i, 1) for i, p in enumerate((60, 62, 64, 65, 67, 69, 66))]
    assert mx.scale_consistency(_song(8, seven)) == 6 / 7


def test_onsets_off_the_beat():
    song = _song(8, [(60, 1, 1), (62, 2, 1), (64, 3, 1), (65, 5, 2)])
    assert mx.on_beat_share(song) == 0
    assert mx.on_beat_share(_song(8, [(60, 0, 1), (62, 1, 1), (64, 4, 1), (65, 7, 1)])) == 0.5


def test_densest_window_finds_the_burst():
    # One note at frame 0, ten one-frame notes at 70..79: no 64 frames hold all eleven.
    song = _song(128, [(60, 0, 1)] + [(72, t, 1) for t in range(70, 80)])
    assert mx.densest_window(song) == 10 / 64


def test_long_held_share_counts_unbroken_runs_struck_again_or_not():
    # C held 40 frames and struck again for 30 more: one run of 70, over the 64 of 4 bars.
    song = _song(80, [(60, 0, 40), (60, 40, 30), (64, 0, 10)])
    assert mx.long_held_share(song) == 70 / 80
    # A one-frame rest splits it into 40 + 39; exactly 64 frames is not over 4 bars.
    assert mx.long_held_share(_song(80, [(60, 0, 40), (60, 41, 39)])) == 0
    assert mx.long_held_share(_song(64, [(60, 0, 64)])) == 0
    # Runs on two pitches, one to the song's last frame.
    assert mx.long_held_share(_song(66, [(60, 0, 66), (61, 0, 65), (72, 3, 5)])) == 131 / 136


def test_undefined_figures_are_nan():
    silence = np.zeros((8, 2 * SPAN), dtype=np.uint8)
    assert mx.silent_share(silence) == 1
    assert mx.onsets_per_16th(silence) == 0
    for figure in (mx.notes_per_sounding_16th, mx.mean_note_length, mx.pitch_range,
                   mx.scale_consistency, mx.on_beat_share, mx.semitone_clash_share,
                   mx.long_held_share):
        assert math.isnan(figure(silence))


def _transposed(matrix, semitones):
    return np.hstack([np.roll(matrix[:, :SPAN], semitones, axis=1),
                      np.roll(matrix[:, SPAN:], semitones, axis=1)])


def _random_song(frames, seed):
    rng = np.random.default_rng(seed)
    play = (rng.random((frames, SPAN)) < 0.1).astype(np.uint8)
    return np.hstack([play, play])


def test_copied_share():
    reference = _random_song(200, seed=0)
    windows = mx.reference_windows([_random_song(300, seed=1), reference])
    assert mx.copied_share(reference, windows) == 1  # its 9 windows at bars 0..8
    assert mx.copied_share(reference[5:], windows) == 1  # any offset of the reference counts
    unarticulated = reference.copy()
    unarticulated[:, SPAN:] = 0
    assert mx.copied_share(unarticulated, windows) == 1  # only the play half is compared
    assert mx.copied_share(_transposed(reference, 1), windows) == 0
    # Bars 0-3 copied, then silence: windows at 0, 16, 32, 48 (64 is silent and left out).
    half = np.vstack([reference[:64], np.zeros_like(reference[:64])])
    assert mx.copied_share(half, windows) == 1 / 4
    assert math.isnan(mx.copied_share(reference[:63], windows))  # no full window


def test_summarise_means_and_worst_songs():
    songs = [("full.mid", _triad_twice()), ("tail.mid", _triad_twice(frames=16)),
             ("cluster.mid", _song(8, [(60, 0, 8), (61, 0, 8)]))]
    summary = mx.summarise(songs, reference_means={"onsets per 16th": 0.7})
    onsets = summary["onsets per 16th"]
    assert onsets.mean == pytest.approx((6 / 8 + 6 / 16 + 2 / 8) / 3)
    assert (onsets.worst_song, onsets.worst_value) == ("cluster.mid", 2 / 8)  # farthest from 0.7
    clash = summary["semitone-clash share"]
    assert (clash.worst_song, clash.worst_value) == ("cluster.mid", 1)  # the largest
    length = summary["mean note length (16ths)"]  # no reference mean: farthest from its own, 16/3
    assert (length.worst_song, length.worst_value) == ("cluster.mid", 8)
    copied = summary[mx.COPIED]  # no reference windows
    assert math.isnan(copied.mean) and copied.worst_song is None


def _chords():
    """C, F, G, C major, one bar each, every chord struck on each beat: 64 frames."""
    chords = [C_MAJOR, (60, 65, 69), (62, 67, 71), C_MAJOR]
    return _song(64, [(p, 16 * bar + beat, 4) for bar, chord in enumerate(chords)
                      for beat in range(0, 16, 4) for p in chord])


def _scale():
    """The C major scale up, two frames a note, four times: 64 frames."""
    return _song(64, [(p, 16 * bar + 2 * i, 2) for bar in range(4)
                      for i, p in enumerate((60, 62, 64, 65, 67, 69, 71, 72))])


def _write(folder, songs):
    folder.mkdir()
    for name, matrix in songs.items():
        midi_manipulation.noteStateMatrixToMidi(matrix, name=str(folder / name))
    return str(folder)


def test_compare_folders_on_songs_written_as_midi(tmp_path):
    reference = _write(tmp_path / "ref", {"chords": _chords(), "scale": _scale()})
    generated = _write(tmp_path / "gen", {"copy": _chords(), "up": _transposed(_scale(), 2)})
    ref, gen = mx.compare_folders(generated, reference)
    assert (ref.songs, gen.songs) == (2, 2)
    assert ref.metrics["onsets per 16th"].mean == (48 / 64 + 32 / 64) / 2
    assert ref.metrics["onsets on the beat"].mean == (1 + 0.5) / 2
    assert ref.metrics["densest 4 bars (onsets/16th)"].worst_value == 48 / 64
    assert gen.metrics[mx.COPIED] == mx.MetricSummary(1 / 2, "copy.mid", 1)  # "up" has none
    assert math.isnan(ref.metrics[mx.COPIED].mean)
    checks = mx.check_bands(ref, gen)
    assert checks[mx.COPIED] == ("max <= 0.050", False)
    assert [name for name, (_, within) in checks.items() if not within] == [mx.COPIED]


def test_report_end_to_end(tmp_path, capsys):
    reference = _write(tmp_path / "ref", {"chords": _chords(), "scale": _scale()})
    good = _write(tmp_path / "good", {"a": _transposed(_chords(), 2),
                                      "b": _transposed(_scale(), 7)})
    assert music_report.main([good, "--reference", reference, "--check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"reference {reference} (2 songs), generated {good} (2 songs)"
    assert lines[1].split() == ["metric", "reference", "generated", "ratio", "worst",
                                "generated", "song", "band"]
    rows = {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line) for line in lines[2:])}
    onsets = rows["onsets per 16th"]  # both songs lie 0.125 from the mean: the worst is a tie
    assert onsets[:3] + onsets[4:] == ["0.625", "0.625", "1.000", "mean <= 0.938", "ok"]
    assert rows["scale consistency"][-1] == "ok"
    assert rows[mx.COPIED][:2] == ["-", "0.000"]

    bad = _write(tmp_path / "bad", {"copy": _chords()})
    (tmp_path / "bad" / "broken.mid").write_bytes(b"not midi")
    with pytest.warns(UserWarning, match="broken.mid"):
        assert music_report.main([bad, "--reference", reference]) == 0
    with pytest.warns(UserWarning, match="broken.mid"):
        assert music_report.main([bad, "--reference", reference, "--check"]) == 1
    out = capsys.readouterr().out
    assert f"generated {bad} (1 song)" in out
    assert "copy.mid 1.000" in out and "FAIL" in out


def test_report_says_when_a_folder_is_missing(tmp_path, capsys):
    assert music_report.main([str(tmp_path / "nowhere")]) == 2
    assert "folder not found" in capsys.readouterr().err
