"""Figures that describe a song's note-state matrix, and their summary over a folder of MIDI files.

Each figure is a plain function of one matrix `[T, 2*SPAN]` (play half, then articulate half; see
`midi_manipulation`). A *note onset* is a play bit that starts a note the way
`midi_manipulation.noteStateMatrixToMidi` writes it: the pitch is articulated in that frame, or it
did not sound in the frame before. Every sounding cell then belongs to exactly one note, the one
most recently started at its pitch. A *sounding frame* has at least one play bit set. A figure
that is undefined for a song (no onsets, no sounding frames) is NaN and is left out of the means.

Windows count 4/4 bars of `FRAMES_PER_BAR` 16ths from the song's first frame, as the MIDI writer
lays them out.
"""
import hashlib
import os
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

import midi_manipulation
from layout import FRAMES_PER_BEAT, LOWEST_NOTE, SPAN

FRAMES_PER_BAR = 4 * FRAMES_PER_BEAT        # 16th notes in a 4/4 bar
WINDOW_FRAMES = 4 * FRAMES_PER_BAR          # a 4-bar window, for density and copying
MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])  # pitch classes above the tonic


def play_and_onsets(statematrix):
    """Split a note-state matrix into what sounds and what starts.

    Args:
        statematrix: array-like `[T, 2*span]` of 0/1 or probabilities (> 0.5 is on); the
            metrics below read `span` = `SPAN` (column `k` is MIDI pitch `LOWEST_NOTE + k`).

    Returns:
        Boolean `(play, onsets)`, each `[T, span]`.
    """
    matrix = np.asarray(statematrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] % 2 or not matrix.shape[1]:
        raise ValueError(f"note-state matrix has shape {matrix.shape}; "
                         f"expected [frames, {2 * SPAN}]")
    span = matrix.shape[1] // 2
    play = matrix[:, :span] > 0.5
    struck = matrix[:, span:] > 0.5
    was_playing = np.vstack([np.zeros((1, span), dtype=bool), play[:-1]])
    return play, play & (struck | ~was_playing)


def _share(part, whole):
    return float(part) / whole if whole else float("nan")


def notes_per_sounding_16th(statematrix):
    """Mean number of sounding pitches over the sounding frames (frames with none are skipped)."""
    play, _ = play_and_onsets(statematrix)
    return _share(play.sum(), play.any(axis=1).sum())


def onsets_per_16th(statematrix):
    """Note onsets divided by the number of frames, silent frames included."""
    _, onsets = play_and_onsets(statematrix)
    return _share(onsets.sum(), len(onsets))


def silent_share(statematrix):
    """Frames in which no pitch sounds, divided by the number of frames."""
    play, _ = play_and_onsets(statematrix)
    return _share((~play.any(axis=1)).sum(), len(play))


def mean_note_length(statematrix):
    """Mean length of a note in 16ths: sounding cells divided by note onsets.

    A note lasts from its onset until its pitch stops sounding or is struck again, so the cells
    of all notes together are exactly the sounding cells.
    """
    play, onsets = play_and_onsets(statematrix)
    return _share(play.sum(), onsets.sum())


def pitch_range(statematrix):
    """Highest minus lowest pitch that sounds anywhere in the song, in semitones (NaN if none)."""
    play, _ = play_and_onsets(statematrix)
    pitches = np.flatnonzero(play.any(axis=0))
    return float(pitches[-1] - pitches[0]) if len(pitches) else float("nan")


def scale_fit(statematrix, lowest_note=LOWEST_NOTE):
    """`(tonic, share)`: the major scale that the most note onsets fit, as its tonic's pitch class
    (0 = C), and the share of onsets that fit it. Ties go to the lower tonic."""
    _, onsets = play_and_onsets(statematrix)
    pitch_classes = (lowest_note + np.nonzero(onsets)[1]) % 12
    counts = np.bincount(pitch_classes, minlength=12)
    fits = [counts[(tonic + MAJOR_SCALE) % 12].sum() for tonic in range(12)]
    tonic = int(np.argmax(fits))
    return tonic, _share(fits[tonic], counts.sum())


def scale_consistency(statematrix):
    """The largest share of note onsets whose pitch class lies in one major scale.

    All 12 major scales are tried and the best one is kept; 1 means every onset fits one key.
    Minor keys are covered by their relative major.
    """
    return scale_fit(statematrix)[1]


def on_beat_share(statematrix):
    """Share of note onsets whose frame index is a multiple of `FRAMES_PER_BEAT` (on a beat)."""
    _, onsets = play_and_onsets(statematrix)
    frames = np.nonzero(onsets)[0]
    return _share((frames % FRAMES_PER_BEAT == 0).sum(), len(frames))


def semitone_clash_share(statematrix):
    """Share of sounding frames in which two adjacent MIDI pitches `p` and `p + 1` both sound.

    Only the semitone itself counts: a major seventh or a minor ninth (a semitone apart across
    octaves) is common in tonal music and is not a clash here.
    """
    play, _ = play_and_onsets(statematrix)
    clashing = (play[:, 1:] & play[:, :-1]).any(axis=1)
    return _share(clashing.sum(), play.any(axis=1).sum())


def densest_window(statematrix, window=WINDOW_FRAMES):
    """Most note onsets in any `window` consecutive frames, divided by `window` (onsets per 16th).

    A song shorter than `window` frames counts as one window of its own length.
    """
    _, onsets = play_and_onsets(statematrix)
    window = min(window, len(onsets))
    if not window:
        return float("nan")
    running = np.concatenate([[0], np.cumsum(onsets.sum(axis=1))])
    return _share((running[window:] - running[:-window]).max(initial=0), window)


def long_held_share(statematrix, window=WINDOW_FRAMES):
    """Share of sounding cells whose pitch sounds without a break for more than `window` frames.

    A run counts every frame in which the pitch sounds, whether it is held or struck again, so
    a drone that the sampler keeps re-striking counts as one run; a rest ends the run.
    """
    play, _ = play_and_onsets(statematrix)
    edges = np.diff(np.pad(play.T.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    lengths = np.nonzero(edges == -1)[1] - np.nonzero(edges == 1)[1]  # both by pitch, then time
    return _share(lengths[lengths > window].sum(), play.sum())


def _window_hashes(play, starts, window):
    """An 8-byte digest of `play[s:s + window]` for each start `s`; equal windows, equal digests."""
    packed = np.packbits(play, axis=1)  # [T, ceil(SPAN / 8)]: one frame in 10 bytes
    return [hashlib.blake2b(packed[s:s + window].tobytes(), digest_size=8).digest()
            for s in starts]


def reference_windows(statematrices, window=WINDOW_FRAMES):
    """Digests of the play half of every `window`-frame window, at every offset, of some songs.

    The windows themselves are not kept, only 8 bytes per window, so the set stays small for a
    whole training folder (about 68,000 windows for `Pop_Music_Midi`).

    Args:
        statematrices: iterable of note-state matrices `[T_i, 2*SPAN]`.
        window: frames per window.

    Returns:
        A frozenset of digests for `copied_share`.
    """
    digests = set()
    for matrix in statematrices:
        play, _ = play_and_onsets(matrix)
        digests.update(_window_hashes(play, range(len(play) - window + 1), window))
    return frozenset(digests)


def copied_share(statematrix, references, window=WINDOW_FRAMES):
    """Share of the song's non-silent 4-bar windows copied from the reference songs.

    The song's windows start at every bar, `0, FRAMES_PER_BAR, ...`, and must fit in the song
    whole; a window is copied when its play half equals, bit for bit, some reference window at
    any offset (articulation and transposition are not compared).

    Args:
        statematrix: the song, `[T, 2*SPAN]`.
        references: the set `reference_windows` made with the same `window`.
        window: frames per window.

    Returns:
        The share in [0, 1]; NaN when the song has no full non-silent window.
    """
    play, _ = play_and_onsets(statematrix)
    starts = [s for s in range(0, len(play) - window + 1, FRAMES_PER_BAR)
              if play[s:s + window].any()]
    copied = sum(digest in references for digest in _window_hashes(play, starts, window))
    return _share(copied, len(starts))


class Metric(NamedTuple):
    """One figure of the summary: its label, its function and which song counts as worst."""

    name: str
    compute: Callable   # of one note-state matrix; `copied_share` also takes the references
    worst_is_max: bool  # True: the largest value is worst; False: the farthest from the reference


COPIED = "4-bar windows copied"
METRICS = (
    Metric("notes per sounding 16th", notes_per_sounding_16th, False),
    Metric("onsets per 16th", onsets_per_16th, False),
    Metric("silent share", silent_share, False),
    Metric("mean note length (16ths)", mean_note_length, False),
    Metric("pitch range (semitones)", pitch_range, False),
    Metric("scale consistency", scale_consistency, False),
    Metric("onsets on the beat", on_beat_share, False),
    Metric("semitone-clash share", semitone_clash_share, True),
    Metric("densest 4 bars (onsets/16th)", densest_window, True),
    Metric("held over 4 bars (share)", long_held_share, True),
    Metric(COPIED, copied_share, True),
)


class MetricSummary(NamedTuple):
    """A figure over a folder: the mean over its songs and the worst song with its value."""

    mean: float
    worst_song: str | None
    worst_value: float


class FolderSummary(NamedTuple):
    """Every figure of `METRICS` over one folder, keyed by `Metric.name`."""

    folder: str
    songs: int
    metrics: dict


def read_folder(folder):
    """Read every MIDI file in `folder`, skipping unreadable ones with one warning line each.

    Returns:
        A list of `(file name, matrix [T, 2*SPAN])`, sorted by name.

    Raises:
        FileNotFoundError: the folder is missing or holds no MIDI files.
        midi_manipulation.MidiFileError: no file could be read.
    """
    songs = []
    paths = midi_manipulation.midi_files(folder)
    for path in paths:
        try:
            songs.append((os.path.basename(path), midi_manipulation.midiToNoteStateMatrix(path)))
        except midi_manipulation.MidiFileError as err:
            warnings.warn(f"skipping {err}", stacklevel=2)
    if not songs:
        raise midi_manipulation.MidiFileError(
            f"{folder}: none of its {len(paths)} MIDI files is readable (see the warnings); "
            f"pass a folder of standard MIDI files")
    return songs


def _worst(names, values, metric, centre):
    """The song whose value is the largest, or the farthest from `centre`, ignoring NaN."""
    badness = values if metric.worst_is_max else np.abs(values - centre)
    if np.isnan(badness).all():
        return None, float("nan")
    index = int(np.nanargmax(badness))
    return names[index], float(values[index])


def _song_values(metric, songs, references):
    """The metric of each song; the copied share needs the references and is NaN without them."""
    if metric.compute is not copied_share:
        return [metric.compute(matrix) for _, matrix in songs]
    if references is None:
        return [float("nan")] * len(songs)
    return [copied_share(matrix, references) for _, matrix in songs]


def summarise(songs, references=None, reference_means=None):
    """Mean and worst song of every figure in `METRICS` over some songs.

    Args:
        songs: list of `(name, matrix [T, 2*SPAN])`, as `read_folder` gives.
        references: `reference_windows` of the training songs; without it the copied share is NaN.
        reference_means: `{metric name: mean}` that "farthest" is measured from; without it,
            the songs' own means.

    Returns:
        `{metric name: MetricSummary}` in the order of `METRICS`.
    """
    names = [name for name, _ in songs]
    summary = {}
    for metric in METRICS:
        values = np.array(_song_values(metric, songs, references), dtype=np.float64)
        mean = float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")
        centre = (reference_means or {}).get(metric.name, mean)
        summary[metric.name] = MetricSummary(mean, *_worst(names, values, metric, centre))
    return summary


def compare_folders(generated_dir, reference_dir):
    """Summarise a folder of generated songs against the training songs.

    Args:
        generated_dir: folder of generated `.mid` files.
        reference_dir: folder of training `.mid` files (the copying check looks for their windows).

    Returns:
        `(reference, generated)`, two `FolderSummary`; the reference's copied share is NaN, since
        every song trivially copies itself.
    """
    generated_songs = read_folder(generated_dir)  # first: a wrong path fails before any work
    reference_songs = read_folder(reference_dir)
    reference = summarise(reference_songs)
    means = {name: figure.mean for name, figure in reference.items()}
    references = reference_windows(matrix for _, matrix in reference_songs)
    generated = summarise(generated_songs, references, means)
    return (FolderSummary(reference_dir, len(reference_songs), reference),
            FolderSummary(generated_dir, len(generated_songs), generated))


class Band(NamedTuple):
    """Where one figure of a generated folder should lie, given the reference's figure."""

    statistic: str      # what is checked: "mean" or "worst_value" of the generated figure
    limits: Callable    # the reference's `MetricSummary` -> `(low, high)`, inclusive


_INF = float("inf")
# The check bands: what a generated folder should look like next to the training songs. Density
# and copying are checked on the worst song, since one runaway or plagiarised song is a failure.
BANDS = {
    "notes per sounding 16th": Band("mean", lambda r: (0.75 * r.mean, 1.25 * r.mean)),
    "onsets per 16th": Band("mean", lambda r: (-_INF, 1.5 * r.mean)),
    "mean note length (16ths)": Band("mean", lambda r: (0.65 * r.mean, 1.5 * r.mean)),
    "scale consistency": Band("mean", lambda r: (0.88, _INF)),
    "onsets on the beat": Band("mean", lambda r: (r.mean - 0.10, r.mean + 0.10)),
    "semitone-clash share": Band("mean", lambda r: (-_INF, 0.05)),
    "densest 4 bars (onsets/16th)": Band("worst_value", lambda r: (-_INF, 1.5 * r.worst_value)),
    COPIED: Band("worst_value", lambda r: (-_INF, 0.05)),
}


def _band_text(band, low, high):
    """A band in words, such as `mean 2.913..4.855` or `max <= 0.050`."""
    which = "mean" if band.statistic == "mean" else "max"
    if low == -_INF:
        return f"{which} <= {high:.3f}"
    if high == _INF:
        return f"{which} >= {low:.3f}"
    return f"{which} {low:.3f}..{high:.3f}"


def check_bands(reference, generated):
    """Which figures of a generated folder lie within `BANDS`.

    Args:
        reference, generated: the two `FolderSummary` of `compare_folders`.

    Returns:
        `{metric name: (band in words, within it)}` for the figures that have a band; a NaN
        figure, or a band that the reference leaves undefined, is not within it.
    """
    checks = {}
    for name, band in BANDS.items():
        low, high = band.limits(reference.metrics[name])
        value = getattr(generated.metrics[name], band.statistic)
        checks[name] = (_band_text(band, low, high), bool(low <= value <= high))
    return checks
