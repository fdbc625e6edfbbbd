#!/usr/bin/env python3
"""Build ``Pop_Music_Midi/`` from public-domain music in music21's bundled corpus.

The original Music_RNN_RBM trained on ~130 MIDI transcriptions of commercial
pop songs that cannot be redistributed. This script rebuilds a replacement
training folder from music21's corpus (installed from PyPI), keeping only
works whose compositions are in the public domain and that fit the
note-state matrix of ``midi_manipulation.py`` (16th-note frames, pitches
24..101):

* Bach four-part chorales in 4/4 (the bulk of the folder);
* songs and tunes notated as melody + chord symbols, with the chord symbols
  realised as a bass line and block chords so that they are polyphonic;
* a piano rag, a song for voices and piano, and string-quartet movements,
  all in 2/4, 4/4 or 2/2.

Works in 3/4, 6/8 and other triple meters are left out, and so are works whose
notes do not sit on a 16th-note grid (triplets, 32nd-note runs) beyond a small
share, since the 16th-note frames could not represent them.

The output is byte-for-byte reproducible: files are written with mido (type 1,
480 ticks per beat, every note on the 16th-note grid, one track per part,
no timestamps), in a fixed order, from a pinned music21 version. The folder's
README.md (sources, licensing, figures) is generated too.

Usage (from the repository root)::

    python -m venv .venv-build
    .venv-build/bin/pip install -r scripts/requirements-build.txt
    .venv-build/bin/python scripts/build_pop_music_midi.py [--out DIR]

This is a maintainer tool: music21 is not a runtime dependency of the project.
"""
import argparse
import hashlib
import importlib.metadata
import os
import sys
import time
import unicodedata
import warnings
from io import BytesIO

import mido
import music21
from music21 import bar, chord, corpus, harmony, meter, note, stream, tempo
from music21.corpus.chorales import ChoraleListRKBWV

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "Pop_Music_Midi")

TICKS_PER_BEAT = 480
FRAMES_PER_BEAT = 4  # 16th notes, as in midi_manipulation.py
FRAME_TICKS = TICKS_PER_BEAT // FRAMES_PER_BEAT
LOWEST, HIGHEST = 24, 101  # midi_manipulation keeps pitches 24..101
DRUM_CHANNEL = 9

MIN_FRAMES = 200           # every shipped song is at least this long
MIN_POLY_SHARE = 0.6       # per song: sounding frames holding >= 2 notes
MAX_OFFGRID_SHARE = 0.025  # notes not on the 16th grid (snapped to it)
MAX_TUPLET_SHARE = 0.01    # notes inside triplets and other tuplets
DUPLE_METERS = {"2/4", "4/4", "2/2"}
MIDO_VERSION = importlib.metadata.version("mido")

N_CHORALES = 100
CHORALE_BPM = 80

# Accompaniment realised from chord symbols.
BASS_RANGE = (36, 48)   # C2..B2: root / fifth
CHORD_RANGE = (52, 64)  # E3..D#4: close-position chord tones
MELODY_VELOCITY, CHORD_VELOCITY, BASS_VELOCITY, PART_VELOCITY = 92, 62, 80, 80
PIANO, ACOUSTIC_BASS, VIOLIN, VIOLA, CELLO = 0, 32, 40, 41, 42

STRING_QUARTET = (VIOLIN, VIOLIN, VIOLA, CELLO)

MOZART = "W. A. Mozart (1756-1791)"
HAYDN = "Joseph Haydn (1732-1809)"
BEETHOVEN = "Ludwig van Beethoven (1770-1827)"


def quartet(out, path, title, composer, bpm):
    return dict(out=out, path=path, title=title, composer=composer, bpm=bpm,
                programs=STRING_QUARTET, note="string quartet")


# Works other than the chorales, in output order. ``number`` picks a tune out of
# an ABC collection; ``chords`` realises the chord symbols of a lead sheet.
OTHER_WORKS = [
    dict(out="foster_jeanie_with_the_light_brown_hair.mid",
         path="leadSheet/fosterBrownHair.mxl",
         title="Jeanie with the Light Brown Hair (1854)",
         composer="Stephen Foster (1826-1864)", bpm=72, chords=True,
         note="lead sheet (melody + chord symbols); chords realised"),
    dict(out="folk_cuckoos_nest.mid",
         path="nottingham-dataset/reelsa-c.abc", number=80,
         title="Cuckoo's Nest", composer="traditional (Scottish); Nottingham Music Database",
         bpm=112, chords=True,
         note="ABC tune with chord symbols; chords realised"),
    dict(out="liliuokalani_aloha_oe.mid",
         path="liliuokalani/aloha_oe.mxl",
         title="Aloha 'Oe (1878, publ. 1884)", composer="Liliuokalani (1838-1917)", bpm=72,
         note="voices and piano"),
    dict(out="joplin_maple_leaf_rag.mid",
         path="joplin/maple_leaf_rag.mxl",
         title="Maple Leaf Rag (1899)", composer="Scott Joplin (1868-1917)", bpm=92,
         note="piano"),
    *(quartet(*work) for work in [
        ("mozart_k80_mvt2.mid", "mozart/k80/movement2.mxl",
         "String Quartet No. 1 in G, K. 80, II", MOZART, 112),
        ("mozart_k80_mvt4.mid", "mozart/k80/movement4.mxl",
         "String Quartet No. 1 in G, K. 80, IV (Rondeau)", MOZART, 144),
        ("mozart_k155_mvt1.mid", "mozart/k155/movement1.mxl",
         "String Quartet No. 2 in D, K. 155, I", MOZART, 132),
        ("mozart_k156_mvt4.mid", "mozart/k156/movement4.mxl",
         "String Quartet No. 3 in G, K. 156, Adagio in E minor (first version)", MOZART, 60),
        ("haydn_op74no1_mvt1.mid", "haydn/opus74no1/movement1.mxl",
         "String Quartet in C, Op. 74 No. 1, I", HAYDN, 132),
        ("haydn_op74no1_mvt4.mid", "haydn/opus74no1/movement4.mxl",
         "String Quartet in C, Op. 74 No. 1, IV (Finale)", HAYDN, 152),
        ("beethoven_op59no1_mvt4.mid", "beethoven/opus59no1/movement4.mxl",
         "String Quartet in F, Op. 59 No. 1, IV (Theme russe)", BEETHOVEN, 132),
        ("beethoven_op59no2_mvt4.mid", "beethoven/opus59no2/movement4.mxl",
         "String Quartet in E minor, Op. 59 No. 2, IV (Finale)", BEETHOVEN, 176),
        ("beethoven_op59no3_mvt4.mid", "beethoven/opus59no3/movement4.mxl",
         "String Quartet in C, Op. 59 No. 3, IV (Allegro molto)", BEETHOVEN, 176),
        ("schumann_op41no1_mvt5.mid", "schumann_robert/opus41no1/movement5.mxl",
         "String Quartet in A minor, Op. 41 No. 1, finale (Presto)",
         "Robert Schumann (1810-1856)", 144),
    ]),
]


class Skip(Exception):
    """A work that does not fit the folder; the message says why."""


def log(message):
    print(message, flush=True)


def ascii_text(text):
    """Plain ASCII for MIDI track names and the README's file names."""
    text = unicodedata.normalize("NFKD", str(text))
    text = text.replace("\u2019", "'")
    return text.encode("ascii", "ignore").decode("ascii")


def parse(path, number=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        work = corpus.parse(path)
    if isinstance(work, stream.Opus):
        if number is None:
            raise Skip(f"{path} holds several works; give a number")
        matches = [s for s in work.scores if str(s.metadata.number) == str(number)]
        if len(matches) != 1:
            raise Skip(f"{path}: no single work number {number}")
        work = matches[0]
    return work


def add_missing_start_repeats(score):
    """Give each end repeat that has no start repeat of its own one.

    In ``A :| B :|`` the second repeat means B again, not everything from the
    top (ABC tune books write it so); music21 would go back to the beginning.
    Parts with first/second-ending brackets are left as they are.
    """
    for part in score.parts:
        if part.spannerBundle.getByClass("RepeatBracket"):
            continue
        measures = list(part.getElementsByClass(stream.Measure))
        opened, after_end = True, None  # the beginning counts as a start
        for index, measure in enumerate(measures):
            left, right = measure.leftBarline, measure.rightBarline
            if isinstance(left, bar.Repeat) and left.direction == "start":
                opened = True
            if isinstance(right, bar.Repeat) and right.direction == "end":
                if not opened and after_end is not None:
                    after_end.leftBarline = bar.Repeat(direction="start")
                opened = False
                after_end = measures[index + 1] if index + 1 < len(measures) else None


def expand_repeats(score):
    """Play repeats and voltas out; keep the score as written if that fails.

    Returns ``(score, grew)``: grew is true when repeats made the score longer.
    """
    try:
        add_missing_start_repeats(score)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expanded = score.expandRepeats()
        if expanded.highestTime >= score.highestTime and len(expanded.parts) == len(score.parts):
            return expanded, expanded.highestTime > score.highestTime
    except Exception:  # music21 raises many kinds on odd repeat structures
        pass
    return score, False


def meters(score):
    return sorted({ts.ratioString for ts in score.recurse().getElementsByClass(meter.TimeSignature)})


def quarter_bpm(score, default):
    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    marks = [m for m in marks if m.number is not None]
    if marks:
        return int(round(marks[0].getQuarterBPM()))
    return default


def to_frame(quarter_length):
    return int(round(float(quarter_length) * FRAMES_PER_BEAT))


def fold(midi_pitch):
    """Move a pitch by octaves into LOWEST..HIGHEST."""
    while midi_pitch < LOWEST:
        midi_pitch += 12
    while midi_pitch > HIGHEST:
        midi_pitch -= 12
    return midi_pitch


def part_notes(part, stats):
    """``[(start_frame, end_frame, midi_pitch)]`` of one part, ties merged.

    Onsets and ends are rounded to the 16th-note grid; grace notes, chord
    symbols and unpitched notes are dropped.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = part.stripTies().flatten()
    notes = []
    for element in flat.notes:
        if isinstance(element, harmony.ChordSymbol):
            continue
        if isinstance(element, note.Note):
            pitches = [element.pitch]
        elif isinstance(element, chord.Chord):
            pitches = list(element.pitches)
        else:
            continue  # unpitched percussion
        length = float(element.quarterLength)
        if length <= 0 or element.duration.isGrace:
            continue
        offset = float(element.offset)
        stats["notes"] += 1
        if element.duration.tuplets:
            stats["tuplets"] += 1
        if (abs(offset * 4 - round(offset * 4)) > 1e-6
                or abs((offset + length) * 4 - round((offset + length) * 4)) > 1e-6):
            stats["offgrid"] += 1
        start = to_frame(offset)
        end = max(start + 1, to_frame(offset + length))
        for p in pitches:
            midi_pitch = fold(p.midi)
            if midi_pitch != p.midi:
                stats["folded"] += 1
            notes.append((start, end, midi_pitch))
    return notes


def measure_starts(part):
    """Offsets of the bar lines (and half bars) of a part, for accompaniment."""
    points = set()
    for measure in part.getElementsByClass(stream.Measure):
        start = float(measure.offset)
        points.add(start)
        bar = float(measure.barDuration.quarterLength)
        length = float(measure.duration.quarterLength)
        if length >= bar - 1e-9:  # not a pickup or a short closing bar
            points.add(start + bar / 2)
    return points


def voiced(pitch_class, low, high):
    midi_pitch = low + (pitch_class - low) % 12
    assert low <= midi_pitch < high
    return midi_pitch


def realise_chords(part, end_ql):
    """Bass and block-chord parts from the chord symbols of a lead-sheet part.

    A chord sounds from its symbol to the next one. Within it, the bass plays
    the chord's bass note on each bar line, half bar and chord change,
    alternating with the fifth; the chord tones are struck at the same points
    in close position within CHORD_RANGE and held to the next point.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = part.flatten()
    symbols = [(float(cs.offset), cs) for cs in flat.getElementsByClass(harmony.ChordSymbol)]
    if not symbols:
        raise Skip("no chord symbols to realise")
    points = sorted(measure_starts(part) | {offset for offset, _ in symbols} | {float(end_ql)})
    bass, chords = [], []
    for index, (offset, symbol) in enumerate(symbols):
        stop = symbols[index + 1][0] if index + 1 < len(symbols) else float(end_ql)
        if isinstance(symbol, harmony.NoChord) or stop <= offset:
            continue
        pitches = symbol.pitches
        if not pitches:
            continue
        root = symbol.root().pitchClass
        low = symbol.bass().pitchClass
        fifth = symbol.fifth.pitchClass if symbol.fifth is not None else root
        tones = sorted({voiced(p.pitchClass, *CHORD_RANGE) for p in pitches})
        cuts = [offset] + [p for p in points if offset < p < stop] + [stop]
        for beat, (a, b) in enumerate(zip(cuts, cuts[1:])):
            start, end = to_frame(a), to_frame(b)
            if end <= start:
                continue
            pitch_class = low if beat == 0 else (fifth if beat % 2 else root)
            bass.append((start, end, voiced(pitch_class, *BASS_RANGE)))
            chords.extend((start, end, tone) for tone in tones)
    return chords, bass


def clean(notes):
    """Sort a part's notes and make them playable on one MIDI channel.

    A note struck again while it still sounds is cut where the new one starts;
    two notes of the same pitch starting together become the longer one.
    """
    longest = {}
    for start, end, midi_pitch in notes:
        key = (start, midi_pitch)
        longest[key] = max(longest.get(key, 0), end)
    result = []
    last = {}
    for (start, midi_pitch), end in sorted(longest.items()):
        previous = last.get(midi_pitch)
        if previous is not None and result[previous][1] > start:
            s, _, p = result[previous]
            result[previous] = (s, start, p)
        last[midi_pitch] = len(result)
        result.append((start, end, midi_pitch))
    return sorted(result)


def time_signatures(score):
    """``[(frame, numerator, denominator)]`` of the meter changes of the first part."""
    changes = []
    source = score.parts[0] if score.parts else score
    for ts in source.flatten().getElementsByClass(meter.TimeSignature):
        entry = (to_frame(ts.offset), ts.numerator, ts.denominator)
        if not changes or changes[-1][1:] != entry[1:]:
            if changes and changes[-1][0] == entry[0]:
                changes[-1] = entry
            else:
                changes.append(entry)
    return changes or [(0, 4, 4)]


def midi_bytes(title, bpm, signatures, parts):
    """A type 1 MIDI file: a conductor track, then one track per part.

    ``parts`` is ``[(name, program, velocity, notes)]``; every note is on the
    16th-note grid and has its note_off; every track ends at the song's end.
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

    Returns ``(frames, sounding, polyphonic, note_frames, low, high)``:
    frame count, frames with >= 1 note, frames with >= 2 notes, the sum of
    notes over frames, and the lowest and highest pitch.
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


def build_work(path, title, bpm, *, number=None, chords=False, programs=None,
               allowed_meters=DUPLE_METERS, part_count=None):
    """Parse one corpus work and return ``(midi_bytes, figures, info)``; raise Skip."""
    score = parse(path, number)
    found = meters(score)
    if not found or not set(found) <= allowed_meters:
        raise Skip(f"meter {found}")
    if part_count is not None and len(score.parts) != part_count:
        raise Skip(f"{len(score.parts)} parts")
    bpm = quarter_bpm(score, bpm)
    score, expanded = expand_repeats(score)
    stats = dict(notes=0, tuplets=0, offgrid=0, folded=0)
    parts = []
    for index, part in enumerate(score.parts):
        notes = clean(part_notes(part, stats))
        if not notes:
            continue
        name = part.partName or f"Part {index + 1}"
        program = programs[index] if programs and index < len(programs) else PIANO
        velocity = MELODY_VELOCITY if chords else PART_VELOCITY
        parts.append((name, program, velocity, notes))
    if not parts:
        raise Skip("no notes")
    if stats["tuplets"] > MAX_TUPLET_SHARE * stats["notes"]:
        raise Skip(f"{stats['tuplets']} of {stats['notes']} notes in tuplets")
    if stats["offgrid"] > MAX_OFFGRID_SHARE * stats["notes"]:
        raise Skip(f"{stats['offgrid']} of {stats['notes']} notes off the 16th grid")
    if chords:
        if len(score.parts) != 1:
            raise Skip("chord realisation expects a single lead-sheet part")
        accompaniment, bass = realise_chords(score.parts[0], score.highestTime)
        parts.append(("Chords", PIANO, CHORD_VELOCITY, clean(accompaniment)))
        parts.append(("Bass", ACOUSTIC_BASS, BASS_VELOCITY, clean(bass)))
    data = midi_bytes(title, bpm, time_signatures(score), parts)
    figures = frame_figures(data)
    frames, sounding, polyphonic, _, low, high = figures
    if frames < MIN_FRAMES:
        raise Skip(f"only {frames} frames")
    if polyphonic < MIN_POLY_SHARE * sounding:
        raise Skip(f"only {polyphonic}/{sounding} sounding frames polyphonic")
    if low < LOWEST or high > HIGHEST:
        raise AssertionError(f"pitch {low}..{high} out of range")
    info = dict(meters="/".join(found), bpm=bpm, expanded=expanded, parts=len(parts), **stats)
    return data, figures, info


def bwv_key(path):
    return os.path.basename(path).rsplit(".", 1)[0][3:]  # "bwv1.6.mxl" -> "1.6"


def chorale_candidates():
    """Bach chorale files in Riemenschneider order: ``(number, bwv, title, path)``."""
    listing = ChoraleListRKBWV().byBWV
    files = {}
    for path in sorted(str(p) for p in corpus.getComposer("bach")):
        if not path.endswith((".mxl", ".xml", ".musicxml")):
            continue
        key = bwv_key(path)
        if key in listing and key not in files:
            files[key] = path
    found = [(int(listing[k]["riemenschneider"]), k, listing[k]["title"], files[k]) for k in files]
    return sorted(found)


def corpus_relative(path):
    """A corpus file's path as music21 names it, e.g. ``bach/bwv269.mxl``."""
    base = os.path.dirname(os.path.realpath(corpus.__file__))
    return os.path.relpath(os.path.realpath(path), base).replace(os.sep, "/")


def build(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    entries = []  # (out, data, figures, info, row)
    seen_notes = set()
    started = time.time()

    log(f"music21 {music21.__version__}, mido {MIDO_VERSION}; writing to {out_dir}")
    log(f"Bach chorales: taking the first {N_CHORALES} that fit, in Riemenschneider order")
    for number, bwv, title, path in chorale_candidates():
        if sum(1 for e in entries if e[0].startswith("bach_")) >= N_CHORALES:
            break
        out = "bach_bwv" + bwv.replace(".", "_") + ".mid"
        name = f"Chorale {number}: {title} (BWV {bwv})"
        try:
            data, figures, info = build_work(path, name, CHORALE_BPM, allowed_meters={"4/4"},
                                             part_count=4)
        except Skip as why:
            log(f"  skip R{number} BWV {bwv}: {why}")
            continue
        digest = hashlib.sha256(data.split(b"MTrk", 2)[2]).hexdigest()  # notes, not the title
        if digest in seen_notes:
            log(f"  skip R{number} BWV {bwv}: same notes as a chorale already taken")
            continue
        seen_notes.add(digest)
        row = dict(title=f"{title} (Riemenschneider {number}, BWV {bwv})",
                   composer="J. S. Bach (1685-1750); Riemenschneider 371 chorales",
                   path=corpus_relative(path), note="four voices")
        entries.append((out, data, figures, info, row))
        log(f"  [{len(entries):3d}] {out}: {figures[0]} frames ({time.time() - started:.0f} s)")

    log("Other works")
    for work in OTHER_WORKS:
        try:
            data, figures, info = build_work(
                work["path"], work["title"], work["bpm"], number=work.get("number"),
                chords=work.get("chords", False), programs=work.get("programs"))
        except Skip as why:
            log(f"  skip {work['path']}: {why}")
            continue
        path = work["path"] + (f" (tune X:{work['number']})" if "number" in work else "")
        row = dict(title=work["title"], composer=work["composer"], path=path, note=work["note"])
        entries.append((work["out"], data, figures, info, row))
        log(f"  [{len(entries):3d}] {work['out']}: {figures[0]} frames, {info['meters']}, "
            f"{info['offgrid']} notes snapped, {info['folded']} octave-folded")

    names = [e[0] for e in entries]
    assert len(set(names)) == len(names), "output names must be unique"
    for out, data, *_ in entries:
        with open(os.path.join(out_dir, out), "wb") as handle:
            handle.write(data)
    stray = sorted(n for n in os.listdir(out_dir)
                   if n.lower().endswith((".mid", ".midi")) and n not in set(names))
    for name in stray:
        log(f"note: {name} in {out_dir} is not built by this script; left in place")
    readme = render_readme(entries)
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8", newline="\n") as handle:
        handle.write(readme)

    totals = summary(entries)
    log(f"wrote {totals['files']} MIDI files, {totals['frames']} frames, "
        f"{totals['bytes'] / 1e6:.2f} MB; polyphonic share {totals['poly_share']:.3f}, "
        f"mean notes per sounding frame {totals['mean_notes']:.2f} "
        f"({time.time() - started:.0f} s)")
    problems = []
    if totals["files"] < 100:
        problems.append(f"only {totals['files']} files (need >= 100)")
    if totals["poly_share"] < 0.5:
        problems.append("fewer than half the sounding frames hold two or more notes")
    if totals["bytes"] >= 5_000_000:
        problems.append("folder is 5 MB or more")
    for problem in problems:
        log(f"ERROR: {problem}")
    return 1 if problems else 0


def summary(entries):
    frames = sum(e[2][0] for e in entries)
    sounding = sum(e[2][1] for e in entries)
    polyphonic = sum(e[2][2] for e in entries)
    note_frames = sum(e[2][3] for e in entries)
    return dict(files=len(entries), frames=frames, sounding=sounding,
                poly_share=polyphonic / sounding, mean_notes=note_frames / sounding,
                bytes=sum(len(e[1]) for e in entries),
                chorales=sum(1 for e in entries if e[0].startswith("bach_")))


def read_license_text():
    path = os.path.join(os.path.dirname(os.path.abspath(corpus.__file__)), "license.txt")
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    body = [line.rstrip() for line in lines if not line.startswith("#")]
    return "\n".join(body).strip()


def md_cell(text):
    return str(text).replace("|", "\\|")


def render_readme(entries):
    totals = summary(entries)
    others = totals["files"] - totals["chorales"]
    quoted = "\n".join("> " + line if line else ">" for line in read_license_text().splitlines())
    table = ["| file | work | composer / collection | music21 corpus path | frames | notes |",
             "| --- | --- | --- | --- | ---: | --- |"]
    for out, _, figures, info, row in entries:
        extra = row["note"] + f"; {info['meters']}; {info['bpm']} quarter notes per minute"
        if info["expanded"]:
            extra += "; repeats played out"
        if info["offgrid"]:
            extra += f"; {info['offgrid']} notes snapped to the 16th grid"
        if info["folded"]:
            extra += f"; {info['folded']} notes moved by an octave into range"
        table.append(f"| `{out}` | {md_cell(row['title'])} | {md_cell(row['composer'])} | "
                     f"`{row['path']}` | {figures[0]} | {extra} |")
    return README_TEMPLATE.format(
        files=totals["files"], chorales=totals["chorales"], others=others,
        frames=totals["frames"], poly=100 * totals["poly_share"],
        mean=totals["mean_notes"], size=totals["bytes"] / 1e6,
        music21=music21.__version__, mido=MIDO_VERSION, license=quoted,
        min_frames=MIN_FRAMES, table="\n".join(table),
        offgrid=100 * MAX_OFFGRID_SHARE, tuplets=100 * MAX_TUPLET_SHARE,
        chorale_bpm=CHORALE_BPM)


README_TEMPLATE = """\
# Pop_Music_Midi

Training songs for the RNN-RBM (`rnn_rbm.py`). The folder keeps the name it had
in the original Music_RNN_RBM repository, where it held about 130 MIDI
transcriptions of commercial pop songs. Those cannot be redistributed, so this
folder holds **public-domain music** instead: {files} MIDI files built from the
corpus that ships with [music21](https://pypi.org/project/music21/) {music21}
by `scripts/build_pop_music_midi.py`. Despite the folder's name, none of it is
pop music.

**Train on your own music:** drop your own `.mid` / `.midi` files into this
folder (or point the training script at another folder). Every MIDI file in
the folder is read; files that cannot be parsed or are shorter than 50
16th-note frames are skipped with a warning.

## Figures

| | |
| --- | --- |
| MIDI files | {files} ({chorales} Bach chorales, {others} other works) |
| 16th-note frames in all | {frames} |
| sounding frames holding two or more notes | {poly:.1f} % |
| mean notes per sounding frame | {mean:.2f} |
| size of the MIDI files | {size:.2f} MB |

Every file is at least {min_frames} 16th-note frames long and every note lies
within MIDI pitches 24..101, the range `midi_manipulation.py` keeps.
`tests/test_pop_music_midi.py` checks these figures with the runtime packages
only.

## Rebuilding the folder

From the repository root:

```sh
python -m venv .venv-build && .venv-build/bin/pip install -r scripts/requirements-build.txt && .venv-build/bin/python scripts/build_pop_music_midi.py
```

This writes the same files, byte for byte (music21 and mido are pinned in
`scripts/requirements-build.txt`; the MIDI files hold no timestamps). Pass
`--out DIR` to build somewhere else. The build rewrites its own files and this
README and leaves any other MIDI files in the folder alone. music21 is needed
only for building: it is not in `requirements.txt`.

## How the files are made

* **Sources.** Bach's four-part chorales in 4/4 (the first {chorales} in
  Riemenschneider's numbering that pass the checks below, skipping harmonisations
  whose notes repeat one already taken); two tunes notated as melody plus chord
  symbols, with the chords realised; a piano rag; a song for voices and piano;
  string-quartet movements in 2/4, 4/4 or 2/2.
* **Meters.** Only 2/4, 4/4 and 2/2 (alla breve, the same 16th-note grid as
  4/4) are used. Works in 3/4, 3/8, 6/8, 9/8 or 12/8 are left out, and so are
  works where more than {tuplets:.0f} % of the notes are in triplets or other
  tuplets or more than {offgrid:.1f} % of the notes fall off the 16th-note grid
  (32nd notes, ornaments): the note-state matrix has one row per 16th note and
  would misrepresent them. The few remaining off-grid notes are rounded to the
  nearest 16th (the table says where); grace notes are dropped.
* **Chord symbols.** For the lead sheet and the ABC tune with chord symbols,
  the symbols are realised as an accompaniment: a bass line (the chord's bass
  note, then fifth and root alternating, on every bar line, half bar and chord
  change, in MIDI 36..47) and the chord tones in close position (MIDI 52..63)
  struck at the same points and held, so every chord-carrying frame holds at
  least three notes besides the melody.
* **Repeats** are played out (music21's `expandRepeats`; where that fails the
  score is used as written). Ties are merged into single notes.
* **Keys** are kept as written: nothing is transposed, as in the original pop
  corpus. The rare note outside 24..101 would be moved by an octave into range
  (the table says where).
* **MIDI layout.** Type 1, 480 ticks per beat, a conductor track (title, one
  tempo, time signatures), then one track per part on its own channel (never
  the drum channel) with a General MIDI program: piano, string quartet
  instruments for the quartets, acoustic bass for realised bass lines. One
  constant velocity per part. Tempo: the score's first metronome mark if it
  has one, else a tempo chosen per work ({chorale_bpm} quarter notes per minute
  for the chorales). Every note starts and ends on the 16th-note grid and has
  its note_off.

## Why these files may be shipped

The compositions are in the public domain: every composer died before 1920
(Bach 1750, Mozart 1791, Haydn 1809, Beethoven 1827, Schumann 1856,
Foster 1864, Joplin 1917, Liliuokalani 1917), more than 100 years ago, so
their music is out of copyright both in the United States and where copyright
lasts 70 years after the author's death; *Cuckoo's Nest* is a traditional tune.

The encodings come from music21's corpus, which music21 distributes with
this statement (`music21/corpus/license.txt`, music21 {music21}):

{license}

Of the encodings used here, the Foster lead sheet is marked "Public Domain"
and *Aloha 'Oe* "Now, Public Domain; Encoding by MSAC, CC0"; the other files
carry no licence of their own. The MIDI files here hold only the notes, their
timing and the titles, not the engraving. Parts of the corpus that carry
their own restrictions were left out: the Essen folk songs (non-commercial
use only, and monophonic), the Palestrina masses (Humdrum encodings whose
licence reserves derivative electronic formats), the Josquin chansons (GPL
encodings), the Monteverdi madrigals (some of the encodings are marked as
taken from a 2003 edition by Ut Orpheus Edizioni),
Berlin's *Alexander's Ragtime Band* (marked "All Rights Reserved"; Berlin
died in 1989), and the Corelli and Beach encodings (Creative Commons licences
that would need attribution or share-alike). The large single-line tune books
(Ryan's Mammoth Collection, O'Neill's, Aird's Airs) have no chord symbols and
were not used.

## Files

{table}
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="folder to write (default: Pop_Music_Midi/ in the repository)")
    args = parser.parse_args(argv)
    return build(os.path.abspath(args.out))


if __name__ == "__main__":
    sys.exit(main())
