"""Writing a prepared corpus (`corpus.py` says what one holds): the run of `prepare_data.py`.

The MIDI files are parsed in worker processes (`corpus.parse_in_parallel`); this process writes
their records into shards of at most `corpus.SHARD_SONGS` songs per split, renames each shard into
place when it is whole and records its songs in the manifest at once. At the end, shards that hold
songs whose files changed or went away are rewritten without them, and the manifest is rewritten
whole and marked complete.
"""
import os
import warnings

import tensorflow as tf

import corpus
import layout

_OPTIONS = tf.io.TFRecordOptions(compression_type="GZIP")
SHOWN_SKIPS = 20  # skipped files named one per line; the rest are counted (all are in the manifest)


def to_example(entry):
    """One song's record: a serialized `tf.train.Example` of its path, hash, frames and bits."""
    def as_bytes(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    return tf.train.Example(features=tf.train.Features(feature={
        "path": as_bytes(entry["path"].encode("utf-8")),
        "sha256": as_bytes(entry["sha256"].encode("ascii")),
        "frames": tf.train.Feature(int64_list=tf.train.Int64List(value=[entry["frames"]])),
        "bits": as_bytes(entry["bits"]),
    })).SerializeToString()


def record_path(record):
    """The source path a serialized record holds."""
    example = tf.train.Example.FromString(record)
    return example.features.feature["path"].bytes_list.value[0].decode("utf-8")


class ShardWriter:
    """Writes one split's shards `<split>-<run>-<index>.tfrecord.gz` of at most `size` songs; a
    shard is renamed into place and its songs appended to the manifest once it is whole."""

    def __init__(self, cache, split, run, size):
        self.cache, self.split, self.run, self.size = cache, split, run, size
        self.index, self.writer, self.pending = 0, None, []

    def add(self, entry):
        if self.writer is None:
            self.name = f"{self.split}-{self.run:04d}-{self.index:05d}.tfrecord.gz"
            self.writer = tf.io.TFRecordWriter(self._partial(), _OPTIONS)
        self.writer.write(to_example(entry))
        self.pending.append({k: v for k, v in entry.items() if k != "bits"}
                            | {"split": self.split, "shard": self.name})
        if len(self.pending) >= self.size:
            return self.finish()
        return []

    def _partial(self):
        return os.path.join(self.cache, self.name + ".partial")

    def finish(self):
        """Closes the open shard, if any; returns the entries of its songs (now in the manifest)."""
        if self.writer is None:
            return []
        self.writer.close()
        os.replace(self._partial(), os.path.join(self.cache, self.name))
        corpus.append_entries(self.cache, self.pending)
        done, self.writer, self.pending = self.pending, None, []
        self.index += 1
        return done


def open_cache(cache, head, force):
    """The entries kept from an earlier run into `cache` (none for a new one). Refuses a folder
    that is not a cache, or one made with other settings unless `force`; removes what an
    interrupted run left; marks the manifest incomplete until this run finishes."""
    entries = {}
    if corpus.is_cache(cache):
        old_head, entries = corpus.read_manifest(cache)
        same = {k: v for k, v in old_head.items() if k != "complete"} == head
        if not same and not force:
            raise corpus.CacheError(f"{cache}: prepared with other settings (note range, limits, "
                                    f"valid share or key); pass --force to rebuild it, or "
                                    f"another --out")
        if not same:
            entries = {}
    elif os.path.isdir(cache) and os.listdir(cache):
        raise corpus.CacheError(f"{cache}: exists and is not a prepared corpus (no "
                                f"{corpus.MANIFEST}); choose a new or empty folder for --out")
    os.makedirs(cache, exist_ok=True)
    entries = {p: e for p, e in entries.items()
               if "skipped" in e or os.path.isfile(os.path.join(cache, e["shard"]))}
    for name in corpus.stray_shards(cache, entries):
        os.remove(os.path.join(cache, name))
    corpus.write_manifest(cache, head | {"complete": False}, entries)
    return entries


def plan(files, old):
    """Splits `files` into the entries that can stay as they are (same size and modification
    time) and the parsing tasks (with the known hash, so a touched file is not parsed again)."""
    kept, tasks = {}, []
    for path in files:
        entry = old.get(path)
        try:
            stat = os.stat(path)
        except OSError:
            stat = None
        if entry and stat and (entry["size"], entry["mtime_ns"]) == (stat.st_size,
                                                                    stat.st_mtime_ns):
            kept[path] = entry
        else:
            tasks.append((path, entry["sha256"] if entry else None))
    return kept, tasks


def prepare(folders, cache, processes, limits, valid_share=corpus.VALID_SHARE, force=False,
            shard_songs=corpus.SHARD_SONGS, progress=lambda items, total: items, key=layout.KEY):
    """Brings the cache in folder `cache` up to date with the MIDI files under `folders`.

    Args:
      processes: parsing processes (1 parses in this one).
      limits: keyword arguments of `midi_manipulation.midiToNoteStateMatrix` (the MIDI limits).
      key: "c" stores each song moved to C major / A minor (`data.to_c`), "as-is" as it is.
      progress: wraps the stream of parsed files, e.g. in a tqdm bar: `progress(items, total)`.
    Returns:
      A dict of counts: files found, parsed now, unchanged since the last run, skipped (now or
      before; the manifest says why), dropped (in the cache, no longer found).
    Raises:
      FileNotFoundError or corpus.CacheError (one line) before anything is written.
    """
    files = corpus.find_midi(folders)
    head = corpus.header(limits, valid_share, key)
    old = open_cache(cache, head, force)
    entries, tasks = plan(files, old)
    run = max(corpus.shard_runs(cache), default=0) + 1
    writers = {s: ShardWriter(cache, s, run, shard_songs) for s in corpus.SPLITS}
    counts = dict(files=len(files), parsed=0, unchanged=len(entries))
    newly_skipped = 0
    results = corpus.parse_in_parallel([(p, sha, limits, key) for p, sha in tasks], processes)
    for entry in progress(results, len(tasks)):
        if entry.pop("unchanged", False):
            entry = old[entry["path"]] | entry
            counts["unchanged"] += 1
        elif "skipped" in entry:
            newly_skipped += 1
            _warn_skip(entry, newly_skipped)
        else:
            counts["parsed"] += 1
            for done in writers[corpus.split_of(entry["sha256"], valid_share)].add(entry):
                entries[done["path"]] = done
            continue
        entries[entry["path"]] = entry
        corpus.append_entries(cache, [entry])
    for writer in writers.values():
        entries.update((done["path"], done) for done in writer.finish())
    counts["dropped"] = len(set(old) - set(files))
    counts["skipped"] = sum("skipped" in e for e in entries.values())
    _tidy(cache, old, entries)
    corpus.write_manifest(cache, head | {"complete": True}, entries)
    return counts


def _warn_skip(entry, n):
    if n <= SHOWN_SKIPS:
        warnings.warn(f"skipping {entry['path']}: {entry['skipped']}"
                      if not entry["skipped"].startswith(entry["path"])
                      else f"skipping {entry['skipped']}", stacklevel=3)
    elif n == SHOWN_SKIPS + 1:
        warnings.warn("more files skipped; the manifest says which and why", stacklevel=3)


def _tidy(cache, old, entries):
    """Rewrites the shards that still hold songs of changed or vanished files without them, and
    removes shards no song points to any more."""
    stale = {e["shard"] for p, e in old.items()
             if "shard" in e and entries.get(p, {}).get("shard") != e["shard"]}
    for shard in sorted(stale):
        live = {p for p, e in entries.items() if e.get("shard") == shard}
        path = os.path.join(cache, shard)
        if live:
            with tf.io.TFRecordWriter(path + ".partial", _OPTIONS) as writer:
                for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
                    if record_path(record.numpy()) in live:
                        writer.write(record.numpy())
            os.replace(path + ".partial", path)
    for name in corpus.stray_shards(cache, entries):
        os.remove(os.path.join(cache, name))
