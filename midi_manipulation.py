"""Convert between MIDI files and the note-state matrices the RNN-RBM learns from.

A song is a 0/1 matrix `[T, 2 * span]`, one row per 16th note: column `k < span` says MIDI pitch
`lowerBound + k` sounds ("play"), column `span + k` that it is struck ("articulate"), so a held note
and a repeated one differ. The RBM sees `num_timesteps` frames a row (`get_song`, `write_song`).
Frames count ticks, not seconds, so tempo changes never move notes. A damaged file can claim any
length, so the reader refuses one beyond limits no real song reaches before it builds the matrix.
"""
import heapq
import numbers
import os
import re
import sys
import warnings
from io import BytesIO

import mido
import numpy as np
from tqdm import tqdm

import layout

# The original repository's names for the shared layout.
lowerBound = layout.LOWEST_NOTE
upperBound = layout.HIGHEST_NOTE
span = layout.SPAN
num_timesteps = layout.NUM_TIMESTEPS
FRAMES_PER_BEAT = layout.FRAMES_PER_BEAT

# Limits no real song reaches, so that no file costs more than ~150 MB or a few seconds:
# - size: a song is tens of kilobytes, a dense orchestral hour a few hundred; mido holds ~80 bytes
#   of objects per byte of file, so 1 MiB means ~100 MB and ~3 s of reading;
# - length: 65,536 beats, four and a half hours even at 240 beats a minute, a 41 MB matrix;
# - silence: 1,024 beats, over four minutes even at 240 beats a minute; songs pause for seconds;
# - runs of bytes with the top bit set: mido reads a variable-length number (4 bytes at most in
#   the format) at any length, in time that grows with its square. Only text in a non-Latin script
#   has such runs in a real file, and all else costs mido time in proportion to the bytes.
MAX_FILE_BYTES = 2 ** 20
MAX_FRAMES = 2 ** 18
MAX_SILENT_FRAMES = 2 ** 12
MAX_HIGH_BYTE_RUN = 4096

_DRUM_CHANNEL = 9  # MIDI channel 10 counted from zero
_VELOCITY = 80
_MIDI_SUFFIXES = (".mid", ".midi")
_HIGH_BYTES = re.compile(rb"[\x80-\xff]+")


class MidiFileError(ValueError):
    """A file that cannot be turned into a note-state matrix; one line: path, problem, advice."""


def _bad_file(path, problem, advice="remove it or replace it with a standard MIDI file"):
    return MidiFileError(f"{path}: {problem}; {advice}")


def _describe(err):
    # Some errors carry no text (a bare EOFError), some several lines; the type always helps.
    return " ".join(f"{type(err).__name__} {err}".split())


def _load_midi(path, max_bytes):
    """Parse `path` with mido; every way it can fail becomes a `MidiFileError`."""
    if not os.path.isfile(path):
        raise _bad_file(path, "no such file", "check the path")
    size = os.path.getsize(path)
    if size == 0:
        raise _bad_file(path, "empty file (0 bytes)")
    if size > max_bytes:
        raise _bad_file(path, f"{size} bytes, more than the {max_bytes} allowed for a song",
                        "remove it, or raise max_bytes if it really is one song")
    with open(path, "rb") as handle:
        data = handle.read()
    if not data.startswith(b"MThd"):
        raise _bad_file(path, "not a MIDI file (bad header)")
    # Each match is a whole run, so the scan stays linear in the file's size.
    if max(map(len, _HIGH_BYTES.findall(data)), default=0) > MAX_HIGH_BYTE_RUN:
        raise _bad_file(path, f"more than {MAX_HIGH_BYTE_RUN} bytes in a row with the top bit "
                              f"set (a corrupt delta time or length)")
    try:
        midi = mido.MidiFile(file=BytesIO(data))
    # Damaged bytes lead mido's reader to raise nearly anything (EOFError, OSError, KeyError,
    # struct.error, KeySignatureError ...); to the user they all mean the same.
    except Exception as err:
        raise _bad_file(path, f"truncated or corrupt MIDI data ({_describe(err)})") from err
    if midi.ticks_per_beat <= 0:
        # mido reads the division word as signed; SMPTE divisions are negative.
        problem = "SMPTE time, which has no beats" if midi.ticks_per_beat else "0 ticks per beat"
        raise _bad_file(path, f"uses {problem}", "re-export it with ticks per beat")
    if midi.type == 2:
        raise _bad_file(path, "is a type 2 MIDI file (tracks are separate songs)",
                        "re-export it as type 0 or type 1")
    return midi


def _merged_events(midi):
    """All messages as `(absolute_tick, message)` in play order; ties in track, then file order."""
    def timed(track_index, track):
        tick = 0
        for position, message in enumerate(track):
            tick += message.time
            yield tick, track_index, position, message

    # Tracks are in tick order and (tick, track, position) never ties: no list, no message compared.
    merged = heapq.merge(*(timed(index, track) for index, track in enumerate(midi.tracks)))
    return ((tick, message) for tick, _, _, message in merged)


def _sounding_frames(events, beat, lowerBound, upperBound):
    """Find where each in-range, non-drum pitch sounds and where it is struck, in frames.

    Returns:
        `(spans, strikes, n_frames)`: spans are `(pitch_index, first, last)` frames played,
        strikes `(pitch_index, frame)`; `n_frames` covers the last event and every note.
    """
    def span(index, first_tick, stop_tick):
        first = first_tick * FRAMES_PER_BEAT // beat
        # The frame of the last sounding tick, not of the note_off itself: a note released
        # exactly on a frame boundary does not enter that frame.
        return index, first, max(first, (stop_tick * FRAMES_PER_BEAT - 1) // beat)

    width = upperBound - lowerBound
    # A pitch sounds while at least one channel holds it; a second note_on on the same channel is
    # a re-strike, not a second voice, so one note_off ends it and doubled note_ons cannot hang.
    holders = [set() for _ in range(width)]
    since = [0] * width
    spans, strikes, end_tick = [], [], 0
    for tick, message in events:
        end_tick = tick
        if message.type not in ("note_on", "note_off") or message.channel == _DRUM_CHANNEL:
            continue
        index = message.note - lowerBound
        if not 0 <= index < width:
            continue
        if message.type == "note_on" and message.velocity > 0:
            if not holders[index]:
                since[index] = tick
            holders[index].add(message.channel)
            strikes.append((index, tick * FRAMES_PER_BEAT // beat))
        elif message.channel in holders[index]:
            holders[index].discard(message.channel)
            if not holders[index]:
                spans.append(span(index, since[index], tick))
    # Notes never released ring until the song ends.
    spans += [span(i, since[i], end_tick) for i in range(width) if holders[i]]
    last_strike = max((frame for _, frame in strikes), default=-1)
    return spans, strikes, max(-(-end_tick * FRAMES_PER_BEAT // beat), last_strike + 1)


def _check_length(path, spans, n_frames, max_frames, max_silent_frames):
    """Refuse a song longer than `max_frames` or silent for more than `max_silent_frames`."""
    if n_frames > max_frames:
        # A corrupt file's count can have more digits than Python will print.
        count = f"{n_frames}" if n_frames < 10 ** 18 else "over 10^18"
        raise _bad_file(path, f"{count} 16th-note frames long, more than the {max_frames} "
                              f"allowed (a corrupt delta time or a note held for hours)",
                        "remove it, or raise max_frames (--max-frames) if it is that long")
    silence, covered = 0, -1  # the longest gap so far; the last frame sounding before it
    for _, first, last in sorted(spans, key=lambda span: span[1]):
        silence = max(silence, first - covered - 1)
        covered = max(covered, last)
    silence = max(silence, n_frames - 1 - covered)
    if silence > max_silent_frames:
        raise _bad_file(path, f"{silence} 16th-note frames in a row with no note, more than the "
                              f"{max_silent_frames} allowed (a corrupt delta time?)",
                        "remove it, or raise max_silent_frames (--max-silent-frames) if meant")


def midiToNoteStateMatrix(midifile, lowerBound=lowerBound, upperBound=upperBound, *,
                          max_frames=MAX_FRAMES, max_silent_frames=MAX_SILENT_FRAMES,
                          max_bytes=MAX_FILE_BYTES):
    """Read a MIDI file into a note-state matrix.

    Args:
        midifile: path to a type 0 or type 1 MIDI file.
        lowerBound, upperBound: the MIDI pitches kept, `lowerBound .. upperBound - 1`.
        max_frames: most 16th-note frames a song may last.
        max_silent_frames: most frames in a row with no kept note (at the start and end too).
        max_bytes: largest file read.

    Returns:
        `np.uint8` `[T, 2 * (upperBound - lowerBound)]`, play half then articulate half. Tick `t` is
        in frame `t * 4 // ticks_per_beat`; a note plays in every frame holding one of its ticks
        `[on, off)`, at least its first. `T` covers the last event; drums (channel 10) are dropped.

    Raises:
        MidiFileError: a missing, empty, non-MIDI, corrupt, SMPTE-timed or type 2 file, one with
            no notes in range, or one beyond a limit (checked before the matrix is allocated).
    """
    midi = _load_midi(midifile, max_bytes)
    spans, strikes, n_frames = _sounding_frames(
        _merged_events(midi), midi.ticks_per_beat, lowerBound, upperBound)
    if not strikes:
        raise _bad_file(midifile, f"no notes between MIDI pitch {lowerBound} and "
                                  f"{upperBound - 1} outside the drum channel",
                        "remove it or replace it with a song that has such notes")
    _check_length(midifile, spans, n_frames, max_frames, max_silent_frames)
    width = upperBound - lowerBound
    matrix = np.zeros((n_frames, 2 * width), dtype=np.uint8)
    for index, first, last in spans:
        matrix[first:last + 1, index] = 1
    for index, frame in strikes:
        matrix[frame, width + index] = 1
    return matrix


def _note_changes(statematrix, width):
    """Sorted `(frame, is_start, pitch_index)` of every note end and start; frame `T` ends all.

    Takes `[T, 2 * width]` or the old `[T, width, 2]`, 0/1 or probabilities (> 0.5 is on). At one
    frame ends come before starts, so a re-struck note is released, then struck.
    """
    matrix = np.asarray(statematrix, dtype=np.float64)
    if matrix.ndim == 3 and matrix.shape[1:] == (width, 2):
        matrix = np.hstack((matrix[:, :, 0], matrix[:, :, 1]))
    if matrix.ndim != 2 or matrix.shape[1] != 2 * width:
        raise ValueError(f"note-state matrix has shape {matrix.shape}; "
                         f"expected [frames, {2 * width}]")
    silence = np.zeros((1, width), dtype=bool)
    play = matrix[:, :width] > 0.5
    now = np.vstack((play, silence))
    before = np.vstack((silence, play))
    # Striking a pitch that does not sound means nothing; it is dropped.
    struck = np.vstack((play & (matrix[:, width:] > 0.5), silence))
    starts = now & (~before | struck)
    ends = before & (~now | struck)
    changes = [(f, 0, i) for f, i in zip(*np.nonzero(ends))]
    changes += [(f, 1, i) for f, i in zip(*np.nonzero(starts))]
    return sorted(changes)


def noteStateMatrixToMidi(statematrix, name="example", lowerBound=lowerBound,
                          upperBound=upperBound, ticks_per_beat=480, tempo=500000):
    """Write a note-state matrix as a type 0 MIDI file.

    Args:
        statematrix: `[T, 2 * span]` (or `[T, span, 2]`) of 0/1 or probabilities, > 0.5 is on. A
            pitch starts a note where it plays and did not play in the frame before or is
            articulated; articulate without play is ignored.
        name: output path, overwritten if it exists; ".mid" is added unless it ends in .mid/.midi.
        lowerBound, upperBound: the MIDI pitches of the columns, `lowerBound .. upperBound - 1`.
        ticks_per_beat: resolution; a multiple of 4 so a 16th note is whole ticks.
        tempo: microseconds per beat (500000 = 120 bpm).

    Returns:
        The path written: the tempo, a 4/4 meter, every note with its note_off, end_of_track at
        frame `T`. `midiToNoteStateMatrix` gives `statematrix` back exactly (trailing silence too)
        when articulate implies play and every unarticulated play bit continues a note.

    Raises:
        ValueError: a bad `ticks_per_beat` or a matrix of the wrong shape.
    """
    if ticks_per_beat % FRAMES_PER_BEAT or not 0 < ticks_per_beat < 2 ** 15:
        raise ValueError(f"ticks_per_beat={ticks_per_beat}: use a positive "
                         f"multiple of {FRAMES_PER_BEAT} below 32768")
    changes = _note_changes(statematrix, upperBound - lowerBound)
    frame_ticks = ticks_per_beat // FRAMES_PER_BEAT
    track = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=tempo, time=0),
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
    ])
    previous_tick = 0
    for frame, is_start, index in changes:
        tick = int(frame) * frame_ticks
        kind = "note_on" if is_start else "note_off"
        track.append(mido.Message(kind, note=int(index) + lowerBound, time=tick - previous_tick,
                                  velocity=_VELOCITY if is_start else 0))
        previous_tick = tick
    end_tick = len(np.asarray(statematrix)) * frame_ticks
    track.append(mido.MetaMessage("end_of_track", time=end_tick - previous_tick))
    path = os.fspath(name)
    path = path if path.lower().endswith(_MIDI_SUFFIXES) else path + ".mid"
    mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat, tracks=[track]).save(path)
    return path


def count_notes(statematrix, lowerBound=lowerBound, upperBound=upperBound):
    """How many note_ons `noteStateMatrixToMidi` writes: one per held note, one per re-strike."""
    return sum(is_start for _, is_start, _ in _note_changes(statematrix, upperBound - lowerBound))


def _check_timesteps(num_timesteps):
    if not isinstance(num_timesteps, numbers.Integral) or num_timesteps < 1:
        raise ValueError(f"num_timesteps={num_timesteps}: use a positive whole number")


def to_windows(matrix, num_timesteps):
    """`[T, 2 * span]` -> `[T // num_timesteps, num_timesteps * 2 * span]`, less the last frames."""
    _check_timesteps(num_timesteps)
    rows = len(matrix) // num_timesteps
    return matrix[:rows * num_timesteps].reshape(rows, num_timesteps * matrix.shape[1])


def get_song(path, num_timesteps=num_timesteps, *, max_frames=MAX_FRAMES,
             max_silent_frames=MAX_SILENT_FRAMES, max_bytes=MAX_FILE_BYTES):
    """Read one MIDI file as RBM input rows.

    Args:
        path: the MIDI file.
        num_timesteps: frames per row.
        max_frames, max_silent_frames, max_bytes: the limits of `midiToNoteStateMatrix`.

    Returns:
        `np.uint8` `[T // num_timesteps, num_timesteps * 2 * span]`, whole frames side by side.

    Raises:
        MidiFileError: as `midiToNoteStateMatrix`.
    """
    matrix = midiToNoteStateMatrix(path, max_frames=max_frames,
                                   max_silent_frames=max_silent_frames, max_bytes=max_bytes)
    return to_windows(matrix, num_timesteps)


def midi_files(folder):
    """Sorted paths of the .mid/.midi files (any case) directly in `folder`.

    Raises:
        FileNotFoundError: the folder is missing or holds no MIDI files.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: folder not found; put .mid files there "
                                f"or pass a different folder")
    names = sorted(name for name in os.listdir(folder)
                   if name.lower().endswith(_MIDI_SUFFIXES)
                   and os.path.isfile(os.path.join(folder, name)))
    if not names:
        raise FileNotFoundError(f"{folder}: no .mid or .midi files; put .mid files "
                                f"there or pass a different folder")
    return [os.path.join(folder, name) for name in names]


def get_songs(path, num_timesteps=num_timesteps, min_frames=50, *, max_frames=MAX_FRAMES,
              max_silent_frames=MAX_SILENT_FRAMES, max_bytes=MAX_FILE_BYTES):
    """Read every .mid/.midi file in folder `path` (sorted by name).

    A file that cannot be read, whatever the reason, or has fewer than `max(min_frames,
    num_timesteps)` frames is skipped with a one-line `UserWarning` naming it. A progress bar
    shows when stderr is a terminal.

    Args:
        path: the folder.
        num_timesteps: frames per row.
        min_frames: shortest song kept, in 16th-note frames.
        max_frames, max_silent_frames, max_bytes: the limits of `midiToNoteStateMatrix`.

    Returns:
        List of `np.uint8` arrays `[T_i // num_timesteps, num_timesteps * 2 * span]`.

    Raises:
        FileNotFoundError: the folder is missing or holds no MIDI files.
        MidiFileError: every file was skipped.
    """
    _check_timesteps(num_timesteps)
    files = midi_files(path)
    needed = max(min_frames, num_timesteps)
    songs = []
    for file in tqdm(files, desc="Reading MIDI files", unit="file",
                     disable=not sys.stderr.isatty()):
        try:
            matrix = midiToNoteStateMatrix(file, max_frames=max_frames, max_bytes=max_bytes,
                                           max_silent_frames=max_silent_frames)
        # One bad file must not cost the others the training, whatever the reader raised.
        except Exception as err:
            if not isinstance(err, MidiFileError):
                err = _bad_file(file, f"could not be read ({_describe(err)})")
            warnings.warn(f"skipping {err}", stacklevel=2)
            continue
        if len(matrix) < needed:
            warnings.warn(f"skipping {file}: only {len(matrix)} 16th-note frames, "
                          f"fewer than the {needed} required", stacklevel=2)
            continue
        songs.append(to_windows(matrix, num_timesteps))
    if not songs:
        raise MidiFileError(f"{path}: none of its {len(files)} MIDI files is usable "
                            f"(see the warnings); add longer or valid .mid files")
    return songs


def write_song(path, song, num_timesteps=num_timesteps):
    """Write RBM rows as a MIDI file of `n * num_timesteps` frames: the inverse of `get_song`.

    Args:
        path: output path (".mid" added if missing), overwritten if it exists.
        song: rows `[n, num_timesteps * 2 * span]` of 0/1 or probabilities.
        num_timesteps: frames per row.

    Returns:
        The path written.

    Raises:
        ValueError: `song` has the wrong shape for `num_timesteps`.
    """
    _check_timesteps(num_timesteps)
    song = np.asarray(song)
    if song.ndim != 2 or song.shape[1] != num_timesteps * 2 * span:
        raise ValueError(f"song has shape {song.shape}; expected "
                         f"[rows, {num_timesteps * 2 * span}] for num_timesteps={num_timesteps}")
    return noteStateMatrixToMidi(song.reshape(-1, 2 * span), name=path)
