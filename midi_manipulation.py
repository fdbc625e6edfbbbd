"""Convert between MIDI files and the note-state matrices the RNN-RBM learns from.

A song becomes a 0/1 matrix with one row per 16th note (a quarter of a beat)
and ``2 * span`` columns, ``span = upperBound - lowerBound`` = 78 pitches
(MIDI notes 24..101):

* columns ``[0, span)`` -- "play": the pitch sounds during this frame;
* columns ``[span, 2*span)`` -- "articulate": the pitch is struck in this frame.

Column ``k`` of either half is MIDI pitch ``lowerBound + k``. A held note has
play=1 in every frame it covers and articulate=1 only in its first frame, so
a repeated note and a held note stay distinguishable.

The RBM sees ``num_timesteps`` consecutive frames at once: ``get_song`` reshapes
a ``[T, 2*span]`` matrix into ``[T // num_timesteps, num_timesteps * 2*span]``
(row-major, so reshaping back restores the frames) and ``write_song`` undoes it.

Frames are counted in ticks, not seconds, so tempo changes never move notes
and every meter (3/4, 6/8, ...) is read to the end of the song.
"""
import json
import numbers
import os
import pickle
import struct
import warnings

import mido
import numpy as np
from mido.midifiles.meta import KeySignatureError
from tqdm import tqdm

lowerBound = 24
upperBound = 102
span = upperBound - lowerBound
num_timesteps = 5

FRAMES_PER_BEAT = 4  # 16th notes
_DRUM_CHANNEL = 9  # MIDI channel 10 counted from zero
_VELOCITY = 80
_MIDI_SUFFIXES = (".mid", ".midi")
# Everything mido's reader is known to raise on damaged data.
_MIDO_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError,
                     TypeError, struct.error, KeySignatureError)


class MidiFileError(ValueError):
    """A file that cannot be turned into a note-state matrix.

    The message is one line: the path, what is wrong, what to do.
    """


def _bad_file(path, problem, advice="remove it or replace it with a standard MIDI file"):
    return MidiFileError(f"{path}: {problem}; {advice}")


def _load_midi(path):
    """Open ``path`` with mido; every way it can fail becomes a MidiFileError."""
    if not os.path.isfile(path):
        raise _bad_file(path, "no such file", "check the path")
    if os.path.getsize(path) == 0:
        raise _bad_file(path, "empty file (0 bytes)")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"MThd":
        raise _bad_file(path, "not a MIDI file (bad header)")
    try:
        midi = mido.MidiFile(path)
    except _MIDO_READ_ERRORS as err:
        # Some mido errors carry no text (bare EOFError); the type still helps.
        detail = " ".join(f"{type(err).__name__} {err}".split())
        raise _bad_file(path, f"truncated or corrupt MIDI data ({detail})",
                        "remove it or re-export it from a MIDI editor") from err
    if midi.ticks_per_beat < 0:
        # mido reads the division word as signed; SMPTE divisions are negative.
        raise _bad_file(path, "uses SMPTE time, which has no beats",
                        "re-export it with ticks per beat")
    if midi.ticks_per_beat == 0:
        raise _bad_file(path, "header says 0 ticks per beat", "re-export it from a MIDI editor")
    if midi.type == 2:
        raise _bad_file(path, "is a type 2 MIDI file (tracks are separate songs)",
                        "re-export it as type 0 or type 1")
    return midi


def _merged_events(midi):
    """All messages of all tracks as ``(absolute_tick, message)`` in play order.

    Ties keep track order, then file order, so an off followed by an on at the
    same tick (a re-strike) is seen in that order.
    """
    events = []
    for track_index, track in enumerate(midi.tracks):
        tick = 0
        for position, message in enumerate(track):
            tick += message.time
            events.append((tick, track_index, position, message))
    events.sort(key=lambda event: event[:3])
    return [(tick, message) for tick, _, _, message in events]


def _sounding_stretches(events, lowerBound, upperBound):
    """Find when each in-range, non-drum pitch sounds and when it is struck.

    Returns ``(stretches, strikes, end_tick)``: stretches are
    ``(pitch_index, first_tick, stop_tick)`` with ``stop_tick`` exclusive,
    strikes are ``(pitch_index, tick)``, end_tick is the last event's tick.
    """
    width = upperBound - lowerBound
    # A pitch sounds while at least one channel holds it; a second note_on on
    # the same channel is a re-strike, not a second voice, so one note_off
    # ends it and notes cannot hang because of doubled note_ons.
    holders = [set() for _ in range(width)]
    since = [0] * width
    stretches, strikes, end_tick = [], [], 0
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
            strikes.append((index, tick))
        elif message.channel in holders[index]:
            holders[index].discard(message.channel)
            if not holders[index]:
                stretches.append((index, since[index], tick))
    # Notes never released ring until the song ends.
    stretches += [(i, since[i], end_tick) for i in range(width) if holders[i]]
    return stretches, strikes, end_tick


def midiToNoteStateMatrix(midifile, lowerBound=lowerBound, upperBound=upperBound):
    """Read a MIDI file into a note-state matrix.

    Args:
        midifile: path to a type 0 or type 1 MIDI file.
        lowerBound, upperBound: pitch range kept, ``[lowerBound, upperBound)``.

    Returns:
        ``np.uint8`` array ``[T, 2*(upperBound-lowerBound)]``: play half then
        articulate half. Frame of tick ``t`` is ``t * 4 // ticks_per_beat``. A
        note plays every frame holding one of its ticks ``[on, off)`` and at
        least its first frame. ``T`` covers the last end_of_track and every note.
        Channel 10 (drums) and pitches outside the range are dropped.

    Raises:
        MidiFileError: missing, empty, non-MIDI, corrupt, SMPTE-timed or type 2
            file, or one with no notes in range.
    """
    midi = _load_midi(midifile)
    beat = midi.ticks_per_beat
    stretches, strikes, end_tick = _sounding_stretches(
        _merged_events(midi), lowerBound, upperBound)
    if not strikes:
        raise _bad_file(midifile, f"no notes between MIDI pitch {lowerBound} and "
                                  f"{upperBound - 1} outside the drum channel",
                        "remove it or replace it with a song that has such notes")
    width = upperBound - lowerBound
    last_strike = max(tick for _, tick in strikes) * FRAMES_PER_BEAT // beat
    n_frames = max(-(-end_tick * FRAMES_PER_BEAT // beat), last_strike + 1)
    matrix = np.zeros((n_frames, 2 * width), dtype=np.uint8)
    for index, first_tick, stop_tick in stretches:
        first = first_tick * FRAMES_PER_BEAT // beat
        # The frame of the last sounding tick, not of the note_off itself:
        # a note released exactly on a frame boundary does not enter that frame.
        last = max(first, (stop_tick * FRAMES_PER_BEAT - 1) // beat)
        matrix[first:last + 1, index] = 1
    for index, tick in strikes:
        matrix[tick * FRAMES_PER_BEAT // beat, width + index] = 1
    return matrix


def _play_and_strike(statematrix, width):
    """Boolean ``(play, strike)`` arrays ``[T, width]`` from a matrix of 0/1 or
    probabilities (> 0.5 counts as on). Also accepts the old ``[T, width, 2]``."""
    matrix = np.asarray(statematrix, dtype=np.float64)
    if matrix.ndim == 3 and matrix.shape[1:] == (width, 2):
        matrix = np.hstack((matrix[:, :, 0], matrix[:, :, 1]))
    if matrix.ndim != 2 or matrix.shape[1] != 2 * width:
        raise ValueError(f"note-state matrix has shape {matrix.shape}; "
                         f"expected [frames, {2 * width}]")
    on = matrix > 0.5
    play = on[:, :width]
    # Striking a pitch that does not sound means nothing; drop it.
    return play, on[:, width:] & play


def _note_changes(play, strike):
    """Sorted ``(frame, is_start, pitch_index)`` for every note end and start.

    At one frame ends come before starts, so a re-struck note is released
    and then struck again at the same tick. Frame ``T`` ends everything.
    """
    silence = np.zeros((1, play.shape[1]), dtype=bool)
    now = np.vstack((play, silence))
    before = np.vstack((silence, play))
    struck = np.vstack((strike, silence))
    starts = now & (~before | struck)
    ends = before & (~now | struck)
    changes = [(f, 0, i) for f, i in zip(*np.nonzero(ends))]
    changes += [(f, 1, i) for f, i in zip(*np.nonzero(starts))]
    return sorted(changes)


def _midi_path(name):
    name = os.fspath(name)
    return name if name.lower().endswith(_MIDI_SUFFIXES) else name + ".mid"


def noteStateMatrixToMidi(statematrix, name="example", lowerBound=lowerBound,
                          upperBound=upperBound, ticks_per_beat=480, tempo=500000):
    """Write a note-state matrix as a type 0 MIDI file.

    Args:
        statematrix: array-like ``[T, 2*span]`` (or ``[T, span, 2]``) of 0/1 or
            probabilities; values > 0.5 are on. A pitch starts a note where it
            plays and either did not play in the previous frame or is
            articulated; articulate without play is ignored.
        name: output path; ".mid" is appended unless it ends in .mid/.midi.
            An existing file at that path is overwritten.
        ticks_per_beat: resolution; a multiple of 4 so a 16th note is whole ticks.
        tempo: microseconds per beat (500000 = 120 bpm).

    Returns:
        The path written. The file holds the tempo, a 4/4 meter, every note
        with its note_off, and end_of_track at frame ``T``, so
        ``midiToNoteStateMatrix`` gives back ``statematrix`` exactly (trailing
        silence included) whenever articulate implies play and every
        unarticulated play bit continues a note from the previous frame.
    """
    if ticks_per_beat % FRAMES_PER_BEAT or not 0 < ticks_per_beat < 2 ** 15:
        raise ValueError(f"ticks_per_beat={ticks_per_beat}: use a positive "
                         f"multiple of {FRAMES_PER_BEAT} below 32768")
    play, strike = _play_and_strike(statematrix, upperBound - lowerBound)
    frame_ticks = ticks_per_beat // FRAMES_PER_BEAT
    track = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=tempo, time=0),
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
    ])
    previous_tick = 0
    for frame, is_start, index in _note_changes(play, strike):
        tick = int(frame) * frame_ticks
        kind = "note_on" if is_start else "note_off"
        track.append(mido.Message(kind, note=int(index) + lowerBound, time=tick - previous_tick,
                                  velocity=_VELOCITY if is_start else 0))
        previous_tick = tick
    track.append(mido.MetaMessage("end_of_track", time=len(play) * frame_ticks - previous_tick))
    path = _midi_path(name)
    mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat, tracks=[track]).save(path)
    return path


def count_notes(statematrix, lowerBound=lowerBound, upperBound=upperBound):
    """How many notes ``noteStateMatrixToMidi`` writes for ``statematrix``: its note_on messages.

    A held note counts once, a re-struck one once per strike; articulate bits without play
    count nothing.
    """
    play, strike = _play_and_strike(statematrix, upperBound - lowerBound)
    return sum(is_start for _, is_start, _ in _note_changes(play, strike))


def _check_timesteps(num_timesteps):
    if not isinstance(num_timesteps, numbers.Integral) or num_timesteps < 1:
        raise ValueError(f"num_timesteps={num_timesteps}: use a positive whole number")


def _to_windows(matrix, num_timesteps):
    """``[T, 2*span]`` -> ``[T // num_timesteps, num_timesteps * 2*span]``,
    dropping the last ``T % num_timesteps`` frames."""
    _check_timesteps(num_timesteps)
    rows = len(matrix) // num_timesteps
    return matrix[:rows * num_timesteps].reshape(rows, num_timesteps * matrix.shape[1])


def get_song(path, num_timesteps=num_timesteps):
    """Read one MIDI file as RBM input rows.

    Returns:
        ``np.uint8`` array ``[T // num_timesteps, num_timesteps * 2*span]``; row
        ``r`` is frames ``r*num_timesteps ..`` concatenated. Leftover frames at
        the end are dropped; a song shorter than num_timesteps gives 0 rows.

    Raises:
        MidiFileError: as ``midiToNoteStateMatrix``.
    """
    return _to_windows(midiToNoteStateMatrix(path), num_timesteps)


def midi_files(folder):
    """Sorted paths of the .mid/.midi files (any case) directly in ``folder``."""
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


def get_songs(path, num_timesteps=num_timesteps, min_frames=50):
    """Read every .mid/.midi file in folder ``path`` (sorted by name).

    Files that cannot be read, and songs with fewer than
    ``max(min_frames, num_timesteps)`` 16th-note frames, are skipped with one
    ``UserWarning`` line each naming the file.

    Returns:
        list of ``np.uint8`` arrays ``[T_i // num_timesteps, num_timesteps * 2*span]``.

    Raises:
        FileNotFoundError: the folder is missing or holds no MIDI files.
        MidiFileError: every file was skipped.
    """
    _check_timesteps(num_timesteps)
    files = midi_files(path)
    needed = max(min_frames, num_timesteps)
    songs = []
    for file in tqdm(files, desc="Reading MIDI files", unit="file"):
        try:
            matrix = midiToNoteStateMatrix(file)
        except MidiFileError as err:
            warnings.warn(f"skipping {err}", stacklevel=2)
            continue
        if len(matrix) < needed:
            warnings.warn(f"skipping {file}: only {len(matrix)} 16th-note frames, "
                          f"fewer than the {needed} required", stacklevel=2)
            continue
        songs.append(_to_windows(matrix, num_timesteps))
    if not songs:
        raise MidiFileError(f"{path}: none of its {len(files)} MIDI files is usable "
                            f"(see the warnings); add longer or valid .mid files")
    return songs


def write_song(path, song, num_timesteps=num_timesteps):
    """Write RBM rows ``[n, num_timesteps * 2*span]`` (0/1 or probabilities)
    as a MIDI file of ``n * num_timesteps`` frames; inverse of ``get_song``.

    Writes to ``path`` (".mid" appended if missing), overwriting any file
    there; deciding whether that is wanted is the caller's job.
    Returns the path written.
    """
    _check_timesteps(num_timesteps)
    song = np.asarray(song)
    if song.ndim != 2 or song.shape[1] != num_timesteps * 2 * span:
        raise ValueError(f"song has shape {song.shape}; expected "
                         f"[rows, {num_timesteps * 2 * span}] for num_timesteps={num_timesteps}")
    return noteStateMatrixToMidi(song.reshape(-1, 2 * span), name=path)


# --- Benchmark piano rolls (Boulanger-Lewandowski et al., ICML 2012) ------------------------------
# The four polyphonic benchmarks are not MIDI files but a dict {"train", "valid", "test"} of
# sequences, each a list of time steps, each step the list of MIDI pitches sounding then. They come
# as JSON or as the original .pickle files; a pickle can run any code it names while loading, so it
# is read with an unpickler that refuses to look up any class or function.

BENCHMARK_LOWEST = 21  # MIDI pitch of column 0 (A0, the lowest piano key)
BENCHMARK_KEYS = 88  # columns of a benchmark frame: MIDI 21..108
BENCHMARK_SPLITS = ("train", "valid", "test")


class BenchmarkError(ValueError):
    """A benchmark file that cannot be read; the message is one line naming the file."""


class _DataOnlyUnpickler(pickle.Unpickler):
    """Builds dicts, lists, tuples, strings and numbers; anything naming a global is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"it refers to {module}.{name}")


def _read_benchmark_file(path):
    """The raw object in a .json or .pickle/.pkl file; BenchmarkError on any failure to parse."""
    if not os.path.isfile(path):
        raise BenchmarkError(f"{path}: no such file; check the path (the benchmarks are .json or .pickle)")
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".json":
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        if suffix in (".pickle", ".pkl"):
            with open(path, "rb") as handle:
                # latin1 so that the str keys of the original Python 2 pickles read as str.
                return _DataOnlyUnpickler(handle, encoding="latin1").load()
    # A damaged pickle can fail in many ways; all of them mean the same thing to the user.
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, OverflowError, MemoryError) as err:
        detail = " ".join(str(err).split()) or type(err).__name__
        raise BenchmarkError(f"{path}: not a benchmark file with only lists, dicts and numbers "
                             f"({detail}); convert it to the JSON form") from None
    raise BenchmarkError(f"{path}: unknown suffix {suffix!r}; use a .json, .pickle or .pkl file")


def _is_pitch(value):
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and BENCHMARK_LOWEST <= value < BENCHMARK_LOWEST + BENCHMARK_KEYS)


def _piano_roll(path, where, sequence):
    """One sequence (list of steps, each a list of pitches) as a uint8 roll `[T, 88]`."""
    if not isinstance(sequence, (list, tuple)):
        raise BenchmarkError(f"{path}: {where} is a {type(sequence).__name__}, not a list of "
                             f"time steps; the file is not in the benchmark format")
    roll = np.zeros((len(sequence), BENCHMARK_KEYS), dtype=np.uint8)
    for t, step in enumerate(sequence):
        if not isinstance(step, (list, tuple)):
            raise BenchmarkError(f"{path}: {where}, step {t} is a {type(step).__name__}, not a "
                                 f"list of pitches; the file is not in the benchmark format")
        bad = [p for p in step if not _is_pitch(p)]
        if bad:
            raise BenchmarkError(f"{path}: {where}, step {t} holds {bad[0]!r}, not a MIDI pitch "
                                 f"in {BENCHMARK_LOWEST}..{BENCHMARK_LOWEST + BENCHMARK_KEYS - 1}; "
                                 f"fix or drop that step")
        roll[t, [p - BENCHMARK_LOWEST for p in step]] = 1
    return roll


def load_benchmark(path):
    """Read a polyphonic benchmark (JSB Chorales, Nottingham, MuseData, Piano-midi.de).

    Args:
        path: a ``.json`` file (as in ``../shared/data``) or an original ``.pickle``/``.pkl``.
            Pickles may hold only dicts, lists, tuples, strings and numbers.

    Returns:
        ``{"train": rolls, "valid": rolls, "test": rolls}``, each a list (file order) of
        ``np.uint8`` arrays ``[T_i, 88]``; column ``c`` is MIDI pitch ``c + 21``. An empty step is
        a row of zeros. Other keys in the file are ignored.

    Raises:
        BenchmarkError: missing or unparsable file, a pickle naming any class or function, a
            missing split, or an entry that is not a list of lists of pitches 21..108.
    """
    data = _read_benchmark_file(path)
    if not isinstance(data, dict):
        raise BenchmarkError(f"{path}: holds a {type(data).__name__}, not a dict of splits; "
                             f"expected keys {', '.join(BENCHMARK_SPLITS)}")
    missing = [split for split in BENCHMARK_SPLITS if split not in data]
    if missing:
        raise BenchmarkError(f"{path}: no {', '.join(missing)} split; expected keys "
                             f"{', '.join(BENCHMARK_SPLITS)}")
    rolls = {}
    for split in BENCHMARK_SPLITS:
        if not isinstance(data[split], (list, tuple)):
            raise BenchmarkError(f"{path}: split {split!r} is a {type(data[split]).__name__}, "
                                 f"not a list of sequences; the file is not in the benchmark format")
        rolls[split] = [_piano_roll(path, f"sequence {i} of {split!r}", sequence)
                        for i, sequence in enumerate(data[split])]
    return rolls
