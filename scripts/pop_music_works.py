"""Which works of music21's corpus go into `Pop_Music_Midi/`, and how one becomes a MIDI file.

A work is taken when it is in 2/4, 4/4 or 2/2, its notes sit on the 16th-note grid but for a small
share, and the result is long and polyphonic enough; `build_work` says why when it is not.
"""
import os

from music21 import corpus
from music21.corpus.chorales import ChoraleListRKBWV
from pop_music_format import HIGHEST, LOWEST, Skip, frame_figures, midi_bytes
from pop_music_score import (
    clean,
    expand_repeats,
    meters,
    parse,
    part_notes,
    quarter_bpm,
    realise_chords,
    time_signatures,
)

MIN_FRAMES = 200           # every shipped song is at least this long
MIN_POLY_SHARE = 0.6       # per song: sounding frames holding >= 2 notes
MAX_OFFGRID_SHARE = 0.025  # notes not on the 16th grid (snapped to it)
MAX_TUPLET_SHARE = 0.01    # notes inside triplets and other tuplets
DUPLE_METERS = {"2/4", "4/4", "2/2"}

N_CHORALES = 100
CHORALE_BPM = 80

MELODY_VELOCITY, CHORD_VELOCITY, BASS_VELOCITY, PART_VELOCITY = 92, 62, 80, 80
PIANO, ACOUSTIC_BASS, VIOLIN, VIOLA, CELLO = 0, 32, 40, 41, 42

STRING_QUARTET = (VIOLIN, VIOLIN, VIOLA, CELLO)

MOZART = "W. A. Mozart (1756-1791)"
HAYDN = "Joseph Haydn (1732-1809)"
BEETHOVEN = "Ludwig van Beethoven (1770-1827)"


def quartet(out, path, title, composer, bpm):
    """The entry of `OTHER_WORKS` for a string-quartet movement."""
    return dict(out=out, path=path, title=title, composer=composer, bpm=bpm,
                programs=STRING_QUARTET, note="string quartet")


# Works other than the chorales, in output order. `number` picks a tune out of an ABC collection;
# `chords` realises the chord symbols of a lead sheet.
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


def _parts(score, stats, chords, programs):
    """`[(name, program, velocity, notes)]` of the parts of `score` that have notes."""
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
    return parts


def _check_figures(figures):
    frames, sounding, polyphonic, _, low, high = figures
    if frames < MIN_FRAMES:
        raise Skip(f"only {frames} frames")
    if polyphonic < MIN_POLY_SHARE * sounding:
        raise Skip(f"only {polyphonic}/{sounding} sounding frames polyphonic")
    if low < LOWEST or high > HIGHEST:
        raise AssertionError(f"pitch {low}..{high} out of range")


def build_work(path, title, bpm, *, number=None, chords=False, programs=None,
               allowed_meters=DUPLE_METERS, part_count=None):
    """Parse one corpus work into a MIDI file for the folder.

    Args:
        path: the work's music21 corpus path.
        title: its title, for the MIDI file.
        bpm: quarter notes per minute when the score has no metronome mark.
        number: which tune of a collection.
        chords: realise the chord symbols of a single lead-sheet part as accompaniment.
        programs: General MIDI program per part; piano where missing.
        allowed_meters: the meters the work may use.
        part_count: how many parts the work must have, if any number will not do.

    Returns:
        `(midi_bytes, figures, info)`: figures as `frame_figures`; info the meters, tempo, whether
        repeats were played out, the number of parts and the note counts.

    Raises:
        Skip: the work does not fit the folder; the message says why.
    """
    score = parse(path, number)
    found = meters(score)
    if not found or not set(found) <= allowed_meters:
        raise Skip(f"meter {found}")
    if part_count is not None and len(score.parts) != part_count:
        raise Skip(f"{len(score.parts)} parts")
    bpm = quarter_bpm(score, bpm)
    score, expanded = expand_repeats(score)
    stats = dict(notes=0, tuplets=0, offgrid=0, folded=0)
    parts = _parts(score, stats, chords, programs)
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
    _check_figures(figures)
    info = dict(meters="/".join(found), bpm=bpm, expanded=expanded, parts=len(parts), **stats)
    return data, figures, info


def bwv_key(path):
    """The BWV number in a chorale's file name: "bwv1.6.mxl" -> "1.6"."""
    return os.path.basename(path).rsplit(".", 1)[0][3:]


def chorale_candidates():
    """Bach chorale files in Riemenschneider order: `(number, bwv, title, path)`."""
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
    """A corpus file's path as music21 names it, e.g. `bach/bwv269.mxl`."""
    base = os.path.dirname(os.path.realpath(corpus.__file__))
    return os.path.relpath(os.path.realpath(path), base).replace(os.sep, "/")
