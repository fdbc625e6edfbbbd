"""Tests for pianoroll: the PNG piano roll, decoded here by hand, and WAV rendering."""
import os
import shutil
import struct
import zlib

import numpy as np
import pytest

import midi_manipulation
import pianoroll as pr
from layout import LOWEST_NOTE, SPAN

E4, D5 = 64 - LOWEST_NOTE, 74 - LOWEST_NOTE  # columns of two pitches off the octave lines


def _decode_png(path):
    """An 8-bit RGB PNG as `[height, width, 3]`, checking every chunk's CRC."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = {}, 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (8, 2, 0)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8)
    rows = rows.reshape(height, 1 + 3 * width)
    assert not rows[:, 0].any()  # every scanline unfiltered
    return rows[:, 1:].reshape(height, width, 3)


def _pixel(image, frame, pitch, row=0):
    """The colour at the centre of a 3x3 cell, in image row `row` of 234 + 8 pixels."""
    y = row * (SPAN * 3 + pr.ROW_GAP) + (SPAN - 1 - pitch) * 3 + 1
    return tuple(int(v) for v in image[y, (frame % pr.FRAMES_PER_ROW) * 3 + 1])


def _matrix(frames):
    matrix = np.zeros((frames, 2 * SPAN), dtype=np.uint8)
    matrix[1:4, E4] = 1  # struck at frame 1, held through 3
    matrix[1, SPAN + E4] = 1
    return matrix


def test_png_cells_and_lines(tmp_path):
    path = pr.write_png(str(tmp_path / "roll.png"), _matrix(20))
    image = _decode_png(path)
    assert image.shape == (SPAN * 3, 20 * 3, 3)
    assert _pixel(image, 1, E4) == pr.STRUCK
    assert _pixel(image, 2, E4) == pr.HELD
    assert _pixel(image, 5, D5) == pr.BACKGROUND
    y = (SPAN - 1 - D5) * 3 + 1
    assert tuple(image[y, 16 * 3]) == pr.BAR_LINE  # frame 16 starts bar 2
    assert tuple(image[y, 4 * 3]) == pr.BEAT_LINE
    assert tuple(image[-1, 5 * 3 + 1]) == pr.OCTAVE_LINE  # the bottom of C1, the lowest pitch
    assert tuple(image[y, 5 * 3]) == pr.BACKGROUND  # not the start of a beat


def test_a_restruck_note_shows_each_strike(tmp_path):
    matrix = _matrix(8)
    matrix[2, SPAN + E4] = 1
    image = _decode_png(pr.write_png(str(tmp_path / "roll.png"), matrix))
    assert [_pixel(image, t, E4) for t in range(1, 4)] == [pr.STRUCK, pr.STRUCK, pr.HELD]


def test_long_songs_wrap_into_rows(tmp_path):
    matrix = _matrix(600)
    matrix[300:302, E4] = 1
    matrix[300, SPAN + E4] = 1
    image = _decode_png(pr.write_png(str(tmp_path / "roll.png"), matrix))
    assert image.shape == (3 * SPAN * 3 + 2 * pr.ROW_GAP, pr.FRAMES_PER_ROW * 3, 3)
    assert _pixel(image, 300, E4, row=1) == pr.STRUCK
    assert _pixel(image, 301, E4, row=1) == pr.HELD
    assert tuple(image[-1, -1]) == pr.BACKGROUND  # frames 600..767 do not exist


def test_bar_lines_follow_the_song_when_rows_are_not_whole_bars(tmp_path):
    image = pr.draw(_matrix(40), frames_per_row=24)
    y = (SPAN - 1 - D5) * 3 + 1
    second_row = y + SPAN * 3 + pr.ROW_GAP
    assert tuple(image[y, 16 * 3]) == pr.BAR_LINE
    assert tuple(image[second_row, 0]) == pr.BEAT_LINE  # frame 24: a beat, not a bar
    assert tuple(image[second_row, (32 - 24) * 3]) == pr.BAR_LINE


def test_png_refuses_an_existing_file(tmp_path):
    path = tmp_path / "roll.png"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        pr.write_png(str(path), _matrix(8))
    assert path.read_bytes() == b"keep"


def _tiny_midi(tmp_path):
    matrix = np.zeros((8, 2 * SPAN), dtype=np.uint8)
    for pitch in (60, 64, 67):
        matrix[:, pitch - LOWEST_NOTE] = 1
        matrix[0, SPAN + pitch - LOWEST_NOTE] = 1
    return midi_manipulation.noteStateMatrixToMidi(matrix, name=str(tmp_path / "chord.mid"))


@pytest.mark.skipif(shutil.which("fluidsynth") is None or pr.find_soundfont() is None,
                    reason="needs fluidsynth and a General MIDI soundfont")
def test_render_wav_writes_a_wave_file(tmp_path):
    wav = str(tmp_path / "chord.wav")
    assert pr.render_wav(_tiny_midi(tmp_path), wav) == (wav, None)
    with open(wav, "rb") as handle:
        header = handle.read(12)
    assert header[:4] == b"RIFF" and header[8:] == b"WAVE"


def test_render_wav_without_fluidsynth(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    wav = tmp_path / "chord.wav"
    path, reason = pr.render_wav(_tiny_midi(tmp_path), str(wav))
    assert path is None and "fluidsynth is not on PATH" in reason
    assert "\n" not in reason and not wav.exists()


def test_render_wav_without_a_soundfont(tmp_path, monkeypatch):
    fake = tmp_path / "fluidsynth"  # found on PATH, never run
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SOUNDFONT", str(tmp_path / "missing.sf2"))
    path, reason = pr.render_wav(_tiny_midi(tmp_path), str(tmp_path / "chord.wav"))
    assert path is None and "missing.sf2 does not exist" in reason


def test_render_wav_refuses_an_existing_file(tmp_path):
    wav = tmp_path / "chord.wav"
    wav.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        pr.render_wav(_tiny_midi(tmp_path), str(wav))
    assert os.path.getsize(wav) == 4
