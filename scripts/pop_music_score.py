"""From a music21 score to notes on the 16th-note grid: repeats, meters, tempo, parts, chords.

A note here is `(start_frame, end_frame, midi_pitch)`, `end_frame` exclusive, one frame a 16th note.
"""
import warnings

from music21 import bar, chord, corpus, harmony, meter, note, stream, tempo
from pop_music_format import FRAMES_PER_BEAT, HIGHEST, LOWEST, Skip

# Accompaniment realised from chord symbols.
BASS_RANGE = (36, 48)   # C2..B2: root / fifth
CHORD_RANGE = (52, 64)  # E3..D#4: close-position chord tones


def parse(path, number=None):
    """The score at corpus path `path`; `number` picks one tune out of a collection.

    Raises:
        Skip: a collection without `number`, or without exactly one work of that number.
    """
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

    In `A :| B :|` the second repeat means B again, not everything from the top (ABC tune books
    write it so); music21 would go back to the beginning. Parts with first/second-ending brackets
    are left as they are.
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

    Returns:
        `(score, grew)`: grew is true when repeats made the score longer.
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
    """The sorted meters of `score`, as strings like "4/4"."""
    signatures = score.recurse().getElementsByClass(meter.TimeSignature)
    return sorted({ts.ratioString for ts in signatures})


def quarter_bpm(score, default):
    """Quarter notes per minute of the score's first metronome mark, else `default`."""
    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    marks = [m for m in marks if m.number is not None]
    if marks:
        return int(round(marks[0].getQuarterBPM()))
    return default


def to_frame(quarter_length):
    """The 16th-note frame nearest to an offset in quarter notes."""
    return int(round(float(quarter_length) * FRAMES_PER_BEAT))


def fold(midi_pitch):
    """Move a pitch by octaves into `LOWEST..HIGHEST`."""
    while midi_pitch < LOWEST:
        midi_pitch += 12
    while midi_pitch > HIGHEST:
        midi_pitch -= 12
    return midi_pitch


def _off_grid(quarter_length):
    return abs(quarter_length * FRAMES_PER_BEAT - round(quarter_length * FRAMES_PER_BEAT)) > 1e-6


def part_notes(part, stats):
    """The notes of one part, ties merged.

    Onsets and ends are rounded to the 16th-note grid; grace notes, chord symbols and unpitched
    notes are dropped.

    Args:
        part: a music21 part.
        stats: counts `notes`, `tuplets`, `offgrid` and `folded`, added to here.

    Returns:
        `[(start_frame, end_frame, midi_pitch)]`.
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
        if _off_grid(offset) or _off_grid(offset + length):
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
        bar_length = float(measure.barDuration.quarterLength)
        length = float(measure.duration.quarterLength)
        if length >= bar_length - 1e-9:  # not a pickup or a short closing bar
            points.add(start + bar_length / 2)
    return points


def voiced(pitch_class, low, high):
    """The MIDI pitch of `pitch_class` in `low .. high - 1`."""
    midi_pitch = low + (pitch_class - low) % 12
    assert low <= midi_pitch < high
    return midi_pitch


def realise_chords(part, end_ql):
    """Block-chord and bass parts from the chord symbols of a lead-sheet part.

    A chord sounds from its symbol to the next one. Within it, the bass plays the chord's bass note
    on each bar line, half bar and chord change, alternating with the fifth; the chord tones are
    struck at the same points in close position within `CHORD_RANGE` and held to the next point.

    Returns:
        `(chords, bass)`, each `[(start_frame, end_frame, midi_pitch)]`.

    Raises:
        Skip: the part has no chord symbols.
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

    A note struck again while it still sounds is cut where the new one starts; two notes of the
    same pitch starting together become the longer one.
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
    """`[(frame, numerator, denominator)]` of the meter changes of the first part."""
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
