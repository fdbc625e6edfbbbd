"""The MIDI files of `Pop_Music_Midi/`: their grid and pitch range, writing them, reading them back.

Every file is type 1 at 480 ticks per beat, a conductor track and one track per part, each note on
the 16th-note grid of `midi_manipulation.py` and within the pitches it keeps. Needs only mido.
"""
import importlib.metadata
import os
import sys
import unicodedata
from io import BytesIO

import mido

# Run as `python scripts/build_pop_music_midi.py`, only scripts/ is on the path, and layout.py sits
# in the repository root.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import layout  # noqa: E402

TICKS_PER_BEAT = 480
FRAMES_PER_BEAT = layout.FRAMES_PER_BEAT
FRAME_TICKS = TICKS_PER_BEAT // FRAMES_PER_BEAT
# The pitches midi_manipulation keeps, both inclusive here: 24..101.
LOWEST, HIGHEST = layout.LOWEST_NOTE, layout.HIGHEST_NOTE - 1
DRUM_CHANNEL = 9
MIDO_VERSION = importlib.metadata.version("mido")


class Skip(Exception):  # noqa: N818  (the build leaves such a work out; nothing went wrong)
    """A work that does not fit the folder; the message says why."""


def ascii_text(text):
    """Plain ASCII for MIDI track names and the README's file names."""
    text = unicodedata.normalize("NFKD", str(text))
    text = text.replace("\u2019", "'")
    return text.encode("ascii", "ignore").decode("ascii")


def midi_bytes(title, bpm, signatures, parts):
    """A type 1 MIDI file: a conductor track, then one track per part.

    Args:
        title: the work's title, for the conductor track's name.
        bpm: quarter notes per minute.
        signatures: `[(frame, numerator, denominator)]` meter changes.
        parts: `[(name, program, velocity, notes)]`, notes `[(start_frame, end_frame, pitch)]`.

    Returns:
        The file's bytes. Every note is on the 16th-note grid and has its note_off; every track ends
        at the song's end.

    Raises:
        Skip: more parts than MIDI channels besides the drums.
    """
    end = max(e for _, _, _, notes in parts for _, e, _ in notes)
    conductor = [(0, 0, mido.MetaMessage("track_name", name=ascii_text(title)[:120])),
                 (0, 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))]
    for frame, numerator, denominator in signatures:
        conductor.append((frame * FRAME_TICKS, 2, mido.MetaMessage(
            "time_signature", numerator=numerator, denominator=denominator)))
    tracks = [conductor]
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    if len(parts) > len(channels):
        raise Skip(f"{len(parts)} parts, more than the MIDI channels")
    for channel, (name, program, velocity, notes) in zip(channels, parts):
        events = [(0, 0, mido.MetaMessage("track_name", name=ascii_text(name)[:60])),
                  (0, 1, mido.Message("program_change", channel=channel, program=program))]
        for start, stop, midi_pitch in notes:
            # At one tick: note_offs (2) before note_ons (3), then by pitch.
            events.append((stop * FRAME_TICKS, 2, mido.Message(
                "note_off", channel=channel, note=midi_pitch, velocity=0)))
            events.append((start * FRAME_TICKS, 3, mido.Message(
                "note_on", channel=channel, note=midi_pitch, velocity=velocity)))
        tracks.append(events)
    return _file_bytes(tracks, end)


def _file_bytes(tracks, end):
    """Type 1 file bytes from `[(tick, order, message)]` per track, each ending at frame `end`."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    for events in tracks:
        events.sort(key=lambda e: (e[0], e[1], getattr(e[2], "note", -1)))
        track = mido.MidiTrack()
        now = 0
        for tick, _, message in events:
            track.append(message.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=end * FRAME_TICKS - now))
        midi.tracks.append(track)
    buffer = BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def frame_figures(data):
    """Read MIDI bytes back with mido as midi_manipulation does.

    Returns:
        `(frames, sounding, polyphonic, note_frames, low, high)`: frame count, frames with >= 1
        note, frames with >= 2 notes, the sum of notes over frames, and the lowest and highest
        pitch.

    Raises:
        AssertionError: a note has no note_off.
    """
    midi = mido.MidiFile(file=BytesIO(data))
    beat = midi.ticks_per_beat
    per_frame = {}
    end_tick, low, high = 0, 127, 0
    for track in midi.tracks:
        tick, held = 0, {}
        for message in track:
            tick += message.time
            end_tick = max(end_tick, tick)
            if message.type == "note_on" and message.velocity > 0:
                held[(message.channel, message.note)] = tick
                low, high = min(low, message.note), max(high, message.note)
            elif message.type in ("note_on", "note_off"):
                start = held.pop((message.channel, message.note))
                first = start * FRAMES_PER_BEAT // beat
                last = max(first, (tick * FRAMES_PER_BEAT - 1) // beat)
                for frame in range(first, last + 1):
                    per_frame.setdefault(frame, set()).add(message.note)
        if held:
            raise AssertionError("a note without note_off")
    frames = -(-end_tick * FRAMES_PER_BEAT // beat)
    counts = [len(per_frame.get(f, ())) for f in range(frames)]
    sounding = sum(1 for c in counts if c)
    polyphonic = sum(1 for c in counts if c >= 2)
    return frames, sounding, polyphonic, sum(counts), low, high
