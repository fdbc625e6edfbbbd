"""The README.md of `Pop_Music_Midi/`: what the folder is, its figures, how it is made, the files.

The text is written out section by section; the figures and the file table come from the build.
"""
import os

import music21
from music21 import corpus
from pop_music_format import HIGHEST, LOWEST, TICKS_PER_BEAT
from pop_music_works import CHORALE_BPM, MAX_OFFGRID_SHARE, MAX_TUPLET_SHARE, MIN_FRAMES

# The README's one command line for a rebuild, too long for one line here.
REBUILD_COMMAND = ("python -m venv .venv-build"
                   " && .venv-build/bin/pip install -r scripts/requirements-build.txt"
                   " && .venv-build/bin/python scripts/build_pop_music_midi.py")


def summary(entries):
    """Totals over the built files `(out, data, figures, info, row)`, as a dict."""
    frames = sum(e[2][0] for e in entries)
    sounding = sum(e[2][1] for e in entries)
    polyphonic = sum(e[2][2] for e in entries)
    note_frames = sum(e[2][3] for e in entries)
    return dict(files=len(entries), frames=frames, sounding=sounding,
                poly_share=polyphonic / sounding, mean_notes=note_frames / sounding,
                bytes=sum(len(e[1]) for e in entries),
                chorales=sum(1 for e in entries if e[0].startswith("bach_")))


def read_license_text():
    """The statement music21 ships with its corpus, without its comment lines."""
    path = os.path.join(os.path.dirname(os.path.abspath(corpus.__file__)), "license.txt")
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    body = [line.rstrip() for line in lines if not line.startswith("#")]
    return "\n".join(body).strip()


def md_cell(text):
    """`text` safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|")


def file_table(entries):
    """The README's table of files, one row per built file, as Markdown lines."""
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
    return table


def render_readme(entries):
    """The whole README.md for the built files `(out, data, figures, info, row)`."""
    totals = summary(entries)
    others = totals["files"] - totals["chorales"]
    quoted = "\n".join("> " + line if line else ">" for line in read_license_text().splitlines())
    return "".join([
        _intro(totals["files"], music21.__version__),
        _figures(totals["files"], totals["chorales"], others, totals["frames"],
                 100 * totals["poly_share"], totals["mean_notes"], totals["bytes"] / 1e6),
        _rebuilding(),
        _how_made(totals["chorales"]),
        _why_shipped(music21.__version__, quoted),
        _files("\n".join(file_table(entries))),
    ])


def _intro(files, music21_version):
    """What the folder holds and how to use it."""
    return f"""\
# Pop_Music_Midi

Training songs for the RNN-RBM (`rnn_rbm.py`). The folder keeps the name it had
in the original Music_RNN_RBM repository, where it held about 130 MIDI
transcriptions of commercial pop songs. Those cannot be redistributed, so this
folder holds **public-domain music** instead: {files} MIDI files built from the
corpus that ships with [music21](https://pypi.org/project/music21/) {music21_version}
by `scripts/build_pop_music_midi.py`. Despite the folder's name, none of it is
pop music.

**Train on your own music:** drop your own `.mid` / `.midi` files into this
folder (or point the training script at another folder). Every MIDI file in
the folder is read; files that cannot be parsed or are shorter than 50
16th-note frames are skipped with a warning.

"""


def _figures(files, chorales, others, frames, poly, mean, size):
    """The folder's figures: `poly` in percent, `size` in MB."""
    return f"""\
## Figures

| | |
| --- | --- |
| MIDI files | {files} ({chorales} Bach chorales, {others} other works) |
| 16th-note frames in all | {frames} |
| sounding frames holding two or more notes | {poly:.1f} % |
| mean notes per sounding frame | {mean:.2f} |
| size of the MIDI files | {size:.2f} MB |

Every file is at least {MIN_FRAMES} 16th-note frames long and every note lies
within MIDI pitches {LOWEST}..{HIGHEST}, the range `midi_manipulation.py` keeps.
`tests/test_pop_music_midi.py` checks these figures with the runtime packages
only.

"""


def _rebuilding():
    """How to build the folder again."""
    return f"""\
## Rebuilding the folder

From the repository root:

```sh
{REBUILD_COMMAND}
```

This writes the same files, byte for byte (music21 and mido are pinned in
`scripts/requirements-build.txt`; the MIDI files hold no timestamps). Pass
`--out DIR` to build somewhere else. The build rewrites its own files and this
README and leaves any other MIDI files in the folder alone. music21 is needed
only for building: it is not in `requirements.txt`.

"""


def _how_made(chorales):
    """Which works were taken and how they became MIDI files."""
    return f"""\
## How the files are made

* **Sources.** Bach's four-part chorales in 4/4 (the first {chorales} in
  Riemenschneider's numbering that pass the checks below, skipping harmonisations
  whose notes repeat one already taken); two tunes notated as melody plus chord
  symbols, with the chords realised; a piano rag; a song for voices and piano;
  string-quartet movements in 2/4, 4/4 or 2/2.
* **Meters.** Only 2/4, 4/4 and 2/2 (alla breve, the same 16th-note grid as
  4/4) are used. Works in 3/4, 3/8, 6/8, 9/8 or 12/8 are left out, and so are
  works where more than {100 * MAX_TUPLET_SHARE:.0f} % of the notes are in triplets or other
  tuplets or more than {100 * MAX_OFFGRID_SHARE:.1f} % of the notes fall off the 16th-note grid
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
  corpus. The rare note outside {LOWEST}..{HIGHEST} would be moved by an octave into range
  (the table says where).
* **MIDI layout.** Type 1, {TICKS_PER_BEAT} ticks per beat, a conductor track (title, one
  tempo, time signatures), then one track per part on its own channel (never
  the drum channel) with a General MIDI program: piano, string quartet
  instruments for the quartets, acoustic bass for realised bass lines. One
  constant velocity per part. Tempo: the score's first metronome mark if it
  has one, else a tempo chosen per work ({CHORALE_BPM} quarter notes per minute
  for the chorales). Every note starts and ends on the 16th-note grid and has
  its note_off.

"""


def _why_shipped(music21_version, licence):
    """Why the files may be shipped: public domain, corpus licence."""
    return f"""\
## Why these files may be shipped

The compositions are in the public domain: every composer died before 1920
(Bach 1750, Mozart 1791, Haydn 1809, Beethoven 1827, Schumann 1856,
Foster 1864, Joplin 1917, Liliuokalani 1917), more than 100 years ago, so
their music is out of copyright both in the United States and where copyright
lasts 70 years after the author's death; *Cuckoo's Nest* is a traditional tune.

The encodings come from music21's corpus, which music21 distributes with
this statement (`music21/corpus/license.txt`, music21 {music21_version}):

{licence}

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

"""


def _files(table):
    """The table of files."""
    return f"""\
## Files

{table}
"""
