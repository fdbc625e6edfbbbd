"""Parses folders of MIDI files once, in parallel, into a prepared corpus that training streams.

    python prepare_data.py Pop_Music_Midi --out prepared/pop
    python prepare_data.py ~/lmd_full --out prepared/lakh --processes 8
    python rnn_rbm_train.py --data prepared/lakh      # --data takes a cache or a MIDI folder

Folders are searched recursively for .mid/.midi files. Running it again on the same --out parses
only new and changed files (and drops songs whose files are gone); an interrupted run continues
from its last whole shard. A file that cannot be read is skipped with a warning and recorded in
the manifest with the reason. `corpus.py` describes the cache.
"""
import os
import sys
import time

import cli
import corpus
import midi_manipulation

# Defaults
PROCESSES = os.cpu_count() or 1  # parsing processes: all cores


def parse_args(argv):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", metavar="FOLDER", help="folders of MIDI files")
    p.add_argument("--out", required=True,
                   help="the cache's folder: new, empty, or a cache to bring up to date")
    p.add_argument("--processes", type=cli.positive_int, default=PROCESSES,
                   help="parsing processes (default %(default)s, this machine's cores)")
    p.add_argument("--valid-share", type=cli.share, default=corpus.VALID_SHARE,
                   help="share of files kept for validation, chosen by their content's hash "
                        "(default %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="rebuild a cache made with other settings")
    cli.add_midi_limits(p)
    cli.add_key_flag(p)
    return p.parse_args(argv)


def folder_bytes(paths):
    return sum(os.path.getsize(p) for p in paths if os.path.isfile(p))


def describe(cache):
    """One line per split: songs and frames, then the sizes beside the MIDI and dense sizes."""
    _, entries = corpus.read_manifest(cache)
    for split in corpus.SPLITS:
        songs = [e for e in entries.values() if e.get("split") == split]
        print(f"{split}: {len(songs)} songs, {sum(e['frames'] for e in songs):,} 16th-note frames")
    frames = sum(e.get("frames", 0) for e in entries.values())
    shards = {e["shard"] for e in entries.values() if "shard" in e}
    cached = folder_bytes([os.path.join(cache, s) for s in shards])
    used = folder_bytes([p for p, e in entries.items() if "shard" in e])
    dense = frames * 2 * midi_manipulation.span
    print(f"cache {cached / 1e6:.2f} MB in {len(shards)} shards: the MIDI files took "
          f"{used / 1e6:.2f} MB, dense uint8 matrices would take {dense / 1e6:.2f} MB "
          f"({cached / max(dense, 1):.3f} of that)")


def main(argv=None):
    args = parse_args(argv)
    # TensorFlow (which writes the shards) is imported here rather than at the top: the parsing
    # processes start afresh and import this script, and they need no TensorFlow.
    import quiet_tensorflow  # noqa: F401, I001  (before TensorFlow itself)
    import shards
    start = time.time()
    try:
        counts = shards.prepare(args.folders, args.out, args.processes, cli.midi_limits(args),
                                args.valid_share, args.force,
                                progress=lambda items, total: cli.progress(
                                    items, total=total, desc="parsing", unit="file"),
                                key=args.key)
    except (FileNotFoundError, corpus.CacheError, OSError) as e:
        sys.exit(f"error: {e}")
    print(f"{counts['files']} MIDI files: {counts['parsed']} parsed, {counts['unchanged']} "
          f"unchanged, {counts['skipped']} skipped, {counts['dropped']} dropped (gone)  "
          f"{time.time() - start:.1f} s with {args.processes} processes")
    describe(args.out)


if __name__ == "__main__":
    main()
