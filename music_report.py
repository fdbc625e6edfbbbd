"""Compare a folder of generated songs with the training songs, one figure a row.

    python music_report.py GENERATED_DIR [--reference Pop_Music_Midi] [--check]

Prints, for every figure of `music_metrics.METRICS`, the mean over the reference songs, the mean
over the generated songs, their ratio, the worst generated song with its value, and whether the
generated folder lies within the figure's check band. With `--check` the exit code is 1 when any
band fails (for scripts and CI); without it the report always exits 0.
"""
import math
import sys

import cli
import music_metrics
from layout import MIDI_DIR

COLUMNS = ("metric", "reference", "generated", "ratio", "worst generated song", "band", "")


def _number(value):
    return "-" if math.isnan(value) else f"{value:.3f}"


def _songs(count):
    return f"{count} song" if count == 1 else f"{count} songs"


def _table(rows):
    """Left-aligned columns, each as wide as its widest cell."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths)).rstrip()
            for row in rows]


def report_lines(reference, generated, bands):
    """The report as lines of text.

    Args:
        reference, generated: the two `music_metrics.FolderSummary` of `compare_folders`.
        bands: `{metric name: (band description, within it)}` from `check_bands`.

    Returns:
        A list of strings: a heading, the column names, one row per figure.
    """
    rows = [COLUMNS]
    for name, ours in generated.metrics.items():
        theirs = reference.metrics[name]
        ratio = ours.mean / theirs.mean if theirs.mean else float("nan")
        worst = f"{ours.worst_song} {_number(ours.worst_value)}" if ours.worst_song else "-"
        band, within = bands.get(name, ("-", None))
        verdict = "" if within is None else ("ok" if within else "FAIL")
        rows.append((name, _number(theirs.mean), _number(ours.mean), _number(ratio),
                     worst, band, verdict))
    heading = (f"reference {reference.folder} ({_songs(reference.songs)}), "
               f"generated {generated.folder} ({_songs(generated.songs)})")
    return [heading, *_table(rows)]


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("generated_dir", metavar="GENERATED_DIR",
                        help="folder of generated .mid files to describe")
    parser.add_argument("--reference", default=MIDI_DIR,
                        help=f"folder of training .mid files to compare with (default {MIDI_DIR})")
    parser.add_argument("--check", action="store_true",
                        help="exit with code 1 when any figure is outside its check band")
    args = parser.parse_args(argv)
    try:
        reference, generated = music_metrics.compare_folders(args.generated_dir, args.reference)
    except (FileNotFoundError, music_metrics.midi_manipulation.MidiFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    bands = music_metrics.check_bands(reference, generated)
    print("\n".join(report_lines(reference, generated, bands)))
    failed = [name for name, (_, within) in bands.items() if not within]
    if failed:
        print(f"outside its band: {', '.join(failed)}")
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
