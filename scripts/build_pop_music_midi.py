#!/usr/bin/env python3
"""Build `Pop_Music_Midi/` from public-domain music in music21's bundled corpus.

The original Music_RNN_RBM trained on ~130 MIDI transcriptions of commercial pop songs that cannot
be redistributed. This script rebuilds a replacement training folder from music21's corpus
(installed from PyPI), keeping only works whose compositions are in the public domain and that fit
the note-state matrix of `midi_manipulation.py` (16th-note frames, pitches 24..101):

* Bach four-part chorales in 4/4 (the bulk of the folder);
* songs and tunes notated as melody + chord symbols, with the chord symbols realised as a bass line
  and block chords so that they are polyphonic;
* a piano rag, a song for voices and piano, and string-quartet movements, all in 2/4, 4/4 or 2/2.

Works in 3/4, 6/8 and other triple meters are left out, and so are works whose notes do not sit on
a 16th-note grid (triplets, 32nd-note runs) beyond a small share, since the 16th-note frames could
not represent them.

The output is byte-for-byte reproducible: files are written with mido (type 1, 480 ticks per beat,
every note on the 16th-note grid, one track per part, no timestamps), in a fixed order, from a
pinned music21 version. The folder's README.md (sources, licensing, figures) is generated too.

Usage (from the repository root):

    python -m venv .venv-build
    .venv-build/bin/pip install -r scripts/requirements-build.txt
    .venv-build/bin/python scripts/build_pop_music_midi.py [--out DIR]

This is a maintainer tool: music21 is not a runtime dependency of the project. The work is split
over the modules beside it: `pop_music_format` (the MIDI files), `pop_music_score` (a score's
notes), `pop_music_works` (which works, and one work's file) and `pop_music_readme`.
"""
import argparse
import hashlib
import os
import sys
import time

import music21
from pop_music_format import MIDO_VERSION, REPO_ROOT, Skip
from pop_music_readme import render_readme, summary
from pop_music_works import (
    CHORALE_BPM,
    N_CHORALES,
    OTHER_WORKS,
    build_work,
    chorale_candidates,
    corpus_relative,
)

import layout  # after pop_music_format, which puts the repository root on the path

DEFAULT_OUT = os.path.join(REPO_ROOT, layout.MIDI_DIR)


def log(message):
    print(message, flush=True)


def take_chorales(entries, started):
    """Append the first `N_CHORALES` chorales that fit to `entries`, skipping repeated notes."""
    seen_notes = set()
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


def take_other_works(entries):
    """Append each work of `OTHER_WORKS` that fits to `entries`."""
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


def write_folder(out_dir, entries):
    """Write the MIDI files and the README; other MIDI files in `out_dir` stay as they are."""
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


def check_totals(entries, started):
    """Log the folder's figures; 1 if it misses what the tests ask of it, else 0."""
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


def build(out_dir):
    """Build the folder in `out_dir`; the exit status, 0 when the folder is as it should be."""
    os.makedirs(out_dir, exist_ok=True)
    entries = []  # (out, data, figures, info, row)
    started = time.time()
    log(f"music21 {music21.__version__}, mido {MIDO_VERSION}; writing to {out_dir}")
    take_chorales(entries, started)
    take_other_works(entries)
    write_folder(out_dir, entries)
    return check_totals(entries, started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="folder to write (default: Pop_Music_Midi/ in the repository)")
    args = parser.parse_args(argv)
    return build(os.path.abspath(args.out))


if __name__ == "__main__":
    sys.exit(main())
