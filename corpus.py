"""A prepared corpus: MIDI folders parsed once into sharded, bit-packed note-state matrices.

    CACHE/manifest.jsonl            a header line, then one line per MIDI file found
    CACHE/train-0001-00000.tfrecord.gz   shards: <split>-<run>-<index>, GZIP-compressed TFRecord

Each record is a `tf.train.Example` of one song: its `path`, `sha256`, `frames` (T) and `bits`,
the `[T, 2 * SPAN]` note-state matrix (`midi_manipulation`) packed 8 cells a byte, row after row
(with a zero row after an odd number of rows, so that the bits fill whole bytes).
Each manifest line names a file's path, size, modification time and content hash, and either its
frames, split and shard or why it was skipped. TFRecord because `tf.data` reads it natively, in
parallel, compressed and sharded, with no package beyond TensorFlow; GZIP because note states are
mostly zeros (the bit packing alone leaves an eighth of the dense size; GZIP takes most of what
is left).

Preparing is incremental and resumable: a file whose size and modification time (or, failing
those, whose content) match its manifest line is not parsed again; every finished shard is
recorded at once, so an interrupted run keeps them; only a run that finishes marks the cache
complete, and only a complete cache trains. Files go to `valid` by their content's hash, so the
split is the same on every machine and a song copied twice lands on one side.

This module does not import TensorFlow at the top: the parsing processes need numpy and mido only.
"""
import hashlib
import json
import multiprocessing
import os
import re

import numpy as np

import data
import layout
import midi_manipulation

MANIFEST = "manifest.jsonl"
FORMAT = "rnn-rbm-note-states"
VERSION = 1
SPLITS = ("train", "valid")
VALID_SHARE = 0.1      # share of files, by content hash, kept for validation
SHARD_SONGS = 256      # songs per shard at most
MIN_FRAMES = data.MIN_FRAMES  # shortest song kept, in 16th notes
_SHARD_NAME = re.compile(r"^(train|valid)-(\d{4})-(\d{5})\.tfrecord\.gz(\.partial)?$")


class CacheError(ValueError):
    """A cache that cannot be written or read as asked; one line naming the folder."""


def is_cache(path):
    """Whether `path` is a folder holding a manifest (what `--data` treats as a prepared corpus)."""
    return os.path.isfile(os.path.join(path, MANIFEST))


def find_midi(folders):
    """The .mid/.midi files (any case) under each folder, recursively, as sorted absolute paths.

    Raises FileNotFoundError (one line) for a folder that is missing or holds no MIDI file.
    """
    found = set()
    for folder in folders:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder}: folder not found; name folders of .mid files")
        before = len(found)
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            found.update(os.path.abspath(os.path.join(root, n)) for n in names
                         if n.lower().endswith((".mid", ".midi")))
        if len(found) == before:
            raise FileNotFoundError(f"{folder}: no .mid or .midi files in it or below it")
    return sorted(found)


def split_of(sha256, valid_share):
    """`valid` for the share `valid_share` of content hashes, else `train`."""
    return "valid" if int(sha256[:8], 16) < valid_share * 2 ** 32 else "train"


def header(limits, valid_share, key=layout.KEY):
    """What a cache is made with; a later run with other settings would mix two kinds of songs."""
    return {"format": FORMAT, "version": VERSION, "lowest_note": layout.LOWEST_NOTE,
            "highest_note": layout.HIGHEST_NOTE, "frames_per_beat": layout.FRAMES_PER_BEAT,
            "min_frames": MIN_FRAMES, "limits": dict(sorted(limits.items())),
            "valid_share": valid_share, "key": key}


def read_manifest(cache):
    """`(header, {path: entry})` of the cache in folder `cache`; later lines win over earlier ones.

    Raises CacheError if the manifest is not one this code wrote.
    """
    path = os.path.join(cache, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [json.loads(line) for line in handle if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CacheError(f"{path}: not a readable manifest ({e}); prepare the cache again "
                         f"into a new folder") from e
    if not lines or lines[0].get("format") != FORMAT:
        raise CacheError(f"{path}: not a manifest of prepare_data.py; prepare the cache again "
                         f"into a new folder")
    if lines[0].get("version") != VERSION:
        raise CacheError(f"{path}: cache format version {lines[0].get('version')}, this code "
                         f"reads {VERSION}; prepare it again with --force")
    return lines[0], {entry["path"]: entry for entry in lines[1:]}


def songs_of(cache, split):
    """`(header, shards, frames)` of one split: its shard names (sorted) and each song's frame
    count, in manifest order. Reads the manifest a line at a time and keeps only these, so a
    corpus of any size costs a few bytes a song. Raises CacheError (one line) unless the cache
    is complete (a complete manifest has one line per file) and its shards are there."""
    path = os.path.join(cache, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            head = json.loads(handle.readline() or "{}")
            if head.get("format") != FORMAT or head.get("version") != VERSION:
                read_manifest(cache)  # raises with the reason
            if not head.get("complete"):
                raise CacheError(f"{cache}: its preparation did not finish; run prepare_data.py "
                                 f"again with the same folders to complete it")
            shards, frames = set(), []
            for line in handle:
                entry = json.loads(line)
                if entry.get("split") == split:
                    shards.add(entry["shard"])
                    frames.append(entry["frames"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, AttributeError) as e:
        raise CacheError(f"{path}: not a readable manifest ({type(e).__name__} {e}); prepare "
                         f"the cache again") from e
    for shard in sorted(shards):
        if not os.path.isfile(os.path.join(cache, shard)):
            raise CacheError(f"{cache}: shard {shard} is missing; run prepare_data.py again")
    return head, sorted(shards), frames


def file_sha256(path):
    """Hex SHA-256 of a file, read in pieces so that no file costs more than a megabyte."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_file(task):
    """Parses one MIDI file in a worker process: `task` is `(path, known_sha256 or None, limits,
    key)`; with `key` "c" the song is moved to C (`data.to_c`, its key found from all its notes).

    Returns the file's manifest entry (`path`, `size`, `mtime_ns`, `sha256`, then `frames` and the
    packed `bits`, or `skipped` with the reason, or `unchanged` when its content hash is the known
    one). Never raises for a bad file: one bad file must not stop a corpus.
    """
    path, known, limits, key = task
    try:
        stat = os.stat(path)
        entry = {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                 "sha256": file_sha256(path)}
    except OSError as e:
        return {"path": path, "size": -1, "mtime_ns": -1, "sha256": "",
                "skipped": f"could not be read ({e.strerror or e})"}
    if entry["sha256"] == known:
        return {**entry, "unchanged": True}
    try:
        matrix = midi_manipulation.midiToNoteStateMatrix(path, **limits)
    except Exception as e:  # whatever mido raised: the file is skipped, with the reason
        return {**entry, "skipped": str(e) if isinstance(e, midi_manipulation.MidiFileError)
                else f"{path}: could not be read ({type(e).__name__} {e})"}
    if len(matrix) < MIN_FRAMES:
        return {**entry, "skipped": f"only {len(matrix)} 16th-note frames, fewer than the "
                                    f"{MIN_FRAMES} required"}
    if key == "c":
        matrix = data.to_c(matrix, 1)
    # An even number of rows (a zero row added to an odd one) makes a whole number of bytes,
    # so the songs of a group can be unpacked together as one run of bits (`streaming`).
    even = np.pad(matrix, [(0, len(matrix) % 2), (0, 0)])
    return {**entry, "frames": len(matrix), "bits": np.packbits(even, axis=None).tobytes()}


def unpack(bits, frames, width=2 * layout.SPAN):
    """The inverse of the packing in `parse_file`: `np.uint8 [frames, width]`."""
    cells = np.unpackbits(np.frombuffer(bits, np.uint8), count=frames * width)
    return cells.reshape(frames, width)


def parse_in_parallel(tasks, processes):
    """Yields `parse_file(task)` for each task, in order, from `processes` worker processes.

    The workers are started afresh ("spawn") rather than forked: a fork of a process that has
    loaded TensorFlow may hang on the locks its threads held.
    """
    if processes <= 1:
        yield from map(parse_file, tasks)
        return
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        yield from pool.imap(parse_file, tasks, chunksize=4)


def shard_runs(cache):
    """The run numbers of the shard files (finished or not) in `cache`."""
    return {int(m.group(2)) for m in map(_SHARD_NAME.match, os.listdir(cache)) if m}


def stray_shards(cache, entries):
    """Shard-named files in `cache` that no manifest entry points to (an interrupted run's)."""
    used = {e.get("shard") for e in entries.values()}
    return sorted(n for n in os.listdir(cache) if _SHARD_NAME.match(n) and n not in used)


def write_manifest(cache, head, entries):
    """Rewrites the manifest whole, through a temporary file so it is never partial."""
    path = os.path.join(cache, MANIFEST)
    with open(path + ".partial", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(head, sort_keys=True) + "\n")
        for _, entry in sorted(entries.items()):
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
    os.replace(path + ".partial", path)


def append_entries(cache, entries):
    """Adds lines to the manifest; a reader takes the last line of each path."""
    with open(os.path.join(cache, MANIFEST), "a", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
