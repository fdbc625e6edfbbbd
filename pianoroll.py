"""Look at and listen to songs: piano-roll PNG images of note-state matrices, and WAV audio.

The image is drawn with numpy and written as a PNG with zlib and struct, so it needs nothing
beyond the runtime packages. Audio is rendered by the `fluidsynth` program with a General MIDI
soundfont, when both are installed; without them `render_wav` says why and the MIDI file stays.
"""
import os
import shutil
import struct
import subprocess
import zlib

import numpy as np

from layout import FRAMES_PER_BEAT, LOWEST_NOTE
from music_metrics import play_and_onsets

FRAME_PIXELS = 3        # pixels per 16th note, left to right
PITCH_PIXELS = 3        # pixels per semitone, bottom to top
FRAMES_PER_ROW = 256    # 16 bars of 4/4 per row of the image; longer songs wrap to more rows
ROW_GAP = 8             # blank pixels between rows
FRAMES_PER_BAR = 4 * FRAMES_PER_BEAT

# RGB colours. Notes are drawn over the grid.
BACKGROUND = (255, 255, 255)
BEAT_LINE = (236, 236, 236)
OCTAVE_LINE = (205, 205, 220)   # along the bottom of every C
BAR_LINE = (150, 150, 150)
HELD = (90, 130, 210)           # a note sounding on from an earlier frame
STRUCK = (200, 40, 30)          # the frame a note is struck in

# Where a General MIDI soundfont is usually installed (Debian/Ubuntu, Fedora/Arch, Homebrew).
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM2-2.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
)
SAMPLE_RATE = 44100
GAIN = 0.7  # FluidSynth's own default, 0.2, renders four voices at about a tenth of full scale


def _draw_row(play, struck, first_frame, frame_pixels, pitch_pixels, lowest_note):
    """One row of the image, `[span * pitch_pixels, frames * frame_pixels, 3]`, for the frames
    `play` and `struck` `[frames, span]` that start at song frame `first_frame`."""
    frames, span = play.shape
    image = np.empty((span * pitch_pixels, frames * frame_pixels, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    song_frames = first_frame + np.arange(frames)
    left_columns = np.arange(frames) * frame_pixels
    image[:, left_columns[song_frames % FRAMES_PER_BEAT == 0]] = BEAT_LINE
    c_rows = [k for k in range(span) if (lowest_note + k) % 12 == 0]
    image[[(span - k) * pitch_pixels - 1 for k in c_rows]] = OCTAVE_LINE
    image[:, left_columns[song_frames % FRAMES_PER_BAR == 0]] = BAR_LINE
    # Pitch k, frame t fills a block; highest pitch at the top, hence the flip.
    cell = np.ones((pitch_pixels, frame_pixels), dtype=bool)
    for mask, colour in ((play & ~struck, HELD), (struck, STRUCK)):
        image[np.kron(mask.T[::-1], cell)] = colour
    return image


def draw(statematrix, frame_pixels=FRAME_PIXELS, pitch_pixels=PITCH_PIXELS,
         frames_per_row=FRAMES_PER_ROW, row_gap=ROW_GAP, lowest_note=LOWEST_NOTE):
    """A piano-roll image of a note-state matrix.

    Time runs left to right and pitch bottom to top (MIDI `LOWEST_NOTE` in the bottom pixel
    row). Frame `t` of a song falls in image row `t // frames_per_row`, rows stacked top to bottom
    with `row_gap` blank pixels between them; within a row, frame `t` covers pixel columns from
    `(t % frames_per_row) * frame_pixels`. Frames where a note starts (see
    `music_metrics.play_and_onsets`) are `STRUCK`, the rest of its frames `HELD`; under
    the notes, each bar's first pixel column is `BAR_LINE`, each other beat's `BEAT_LINE`, and the
    bottom pixel row of every C is `OCTAVE_LINE`. A shorter last row is padded with `BACKGROUND`.

    Args:
        statematrix: array-like `[T, 2*span]` (any span) of 0/1 or probabilities (> 0.5 is
            on), T >= 1.
        frame_pixels, pitch_pixels: size of one cell in pixels.
        frames_per_row: frames before the image wraps to a new row (a multiple of a bar keeps
            the bar lines of all rows aligned).
        row_gap: blank pixels between rows.
        lowest_note: MIDI pitch of the matrix's column 0 (the benchmarks' rolls start at 21).

    Returns:
        `np.uint8` array `[height, width, 3]` (RGB).
    """
    play, struck = play_and_onsets(statematrix)
    if not len(play):
        raise ValueError("note-state matrix has no frames; there is nothing to draw")
    width = min(len(play), frames_per_row) * frame_pixels
    rows = []
    for start in range(0, len(play), frames_per_row):
        row = _draw_row(play[start:start + frames_per_row], struck[start:start + frames_per_row],
                        start, frame_pixels, pitch_pixels, lowest_note)
        padded = np.empty((row.shape[0] + row_gap, width, 3), dtype=np.uint8)
        padded[:] = BACKGROUND
        padded[row_gap:, :row.shape[1]] = row
        rows.append(padded)
    return np.concatenate(rows)[row_gap:]  # no gap above the first row


def _chunk(kind, data):
    """A PNG chunk: length, type, data, and the CRC of type and data."""
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(image):
    """PNG bytes of an RGB image `[height, width, 3]` of `np.uint8` (8-bit, unfiltered rows)."""
    height, width, _ = image.shape
    # Each scanline starts with its filter type; 0 is "none".
    scanlines = np.hstack([np.zeros((height, 1), dtype=np.uint8), image.reshape(height, -1)])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9)) + _chunk(b"IEND", b""))


def write_png(path, statematrix, **layout):
    """Write the piano roll of a note-state matrix (see `draw`) as a PNG file.

    Args:
        path: file to write; an existing file is never replaced.
        statematrix: array-like `[T, 2*span]`.
        **layout: `frame_pixels`, `pitch_pixels`, `frames_per_row`, `row_gap`, `lowest_note`
            for `draw`.

    Returns:
        `path`.

    Raises:
        FileExistsError: `path` exists.
    """
    data = encode_png(draw(statematrix, **layout))
    with open(path, "xb") as handle:  # "x" refuses an existing file
        handle.write(data)
    return path


def find_soundfont(soundfont=None):
    """The soundfont to render with: `soundfont`, else `$SOUNDFONT`, else the first of
    `SOUNDFONT_PATHS` that exists; None when there is none."""
    for candidate in (soundfont, os.environ.get("SOUNDFONT")):
        if candidate:
            return candidate if os.path.isfile(candidate) else None
    return next((path for path in SOUNDFONT_PATHS if os.path.isfile(path)), None)


def render_wav(midi_path, wav_path, soundfont=None):
    """Render a MIDI file to a WAV file with the `fluidsynth` program.

    Args:
        midi_path: the MIDI file.
        wav_path: the WAV file to write; an existing file is never replaced.
        soundfont: a `.sf2`/`.sf3` file; by default `find_soundfont()`.

    Returns:
        `(wav_path, None)` when written, else `(None, reason)` with a one-line reason (no
        fluidsynth, no soundfont, or fluidsynth failed) that the caller can print.

    Raises:
        FileExistsError: `wav_path` exists.
    """
    if os.path.exists(wav_path):
        raise FileExistsError(f"{wav_path}: already exists; pick another name for the audio")
    program = shutil.which("fluidsynth")
    if program is None:
        return None, "no audio: fluidsynth is not on PATH (install it, e.g. apt install fluidsynth)"
    font = find_soundfont(soundfont)
    if font is None:
        wanted = soundfont or os.environ.get("SOUNDFONT")
        where = f"{wanted} does not exist" if wanted else "none in the usual places"
        return None, (f"no audio: no General MIDI soundfont ({where}); install one, e.g. "
                      f"apt install fluid-soundfont-gm, or set SOUNDFONT to a .sf2 file")
    command = [program, "-ni", "-q", "-g", str(GAIN), "-F", wav_path, "-T", "wav",
               "-r", str(SAMPLE_RATE),
               font, midi_path]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode or not os.path.isfile(wav_path):
        said = (result.stderr or result.stdout).strip().splitlines()
        return None, (f"no audio: fluidsynth failed on {midi_path} (exit {result.returncode}"
                      f"{': ' + said[-1] if said else ''})")
    return wav_path, None
