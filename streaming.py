"""Reading a prepared corpus (`corpus.py`) with `tf.data`, for training and pre-training.

Memory stays bounded whatever the corpus's size: shards are read a few at a time (interleaved),
songs are shuffled in a buffer of `SHUFFLE_SONGS` bit-packed records, cut into chunks and
batched a group at a time, the batches shuffled in a buffer of `SHUFFLE_BATCHES` and prefetched.
The songs become the same vectors `data.load_songs` makes of the MIDI files (a test checks it):
note-state frames grouped `num_timesteps` to a vector (moved to C, when they were, as the cache
was prepared).
"""
import os

import numpy as np
import tensorflow as tf

import corpus
import layout

SHUFFLE_SONGS = 256    # records in the song shuffle buffer (bit-packed: ~20 KB a song)
GROUP = 64             # songs unpacked, cut and batched together
SHUFFLE_BATCHES = 64   # batches in the shuffle buffer (uint8: ~250 KB a batch of 4 chunks)
CYCLE_LENGTH = 4       # shards read at once
THREADS = 1            # threads of the pipeline (see training_batches)
# Batches are padded to a multiple of this many vectors: XLA compiles the recurrence once per
# length, and a stream, unlike the in-memory path, meets new lengths epoch after epoch.
TIME_GRAIN = 8
_FEATURES = {"frames": tf.io.FixedLenFeature([], tf.int64),
             "bits": tf.io.FixedLenFeature([], tf.string)}


def check_model(cache, head, hparams):
    """Raises corpus.CacheError (one line) if the model cannot read this cache's songs."""
    if not hparams.articulation or (hparams.lowest_note, hparams.highest_note) != (
            head["lowest_note"], head["highest_note"]):
        raise corpus.CacheError(f"{cache}: holds [play | articulate] frames over MIDI "
                                f"{head['lowest_note']}..{head['highest_note'] - 1}; this model "
                                f"uses another layout")


def vectors_in(frames, num_timesteps):
    """The visible vectors songs of these frame counts make."""
    return sum(f // num_timesteps for f in frames if f >= num_timesteps)


_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, np.newaxis], axis=1)  # [byte, 8 cells]


def decode_group(records, width=2 * layout.SPAN):
    """The note-state matrices of several records, unpacked together: `(rows uint8 [R, width],
    frames [songs], start [songs])`, the songs' rows one after another (each song's padded to an
    even number, see `corpus`), its frames, and where its rows start."""
    parsed = tf.io.parse_example(records, _FEATURES)
    frames = tf.cast(parsed["frames"], tf.int32)
    packed = tf.io.decode_raw(tf.strings.reduce_join(parsed["bits"]), tf.uint8)
    rows = tf.reshape(tf.gather(tf.constant(_BITS), tf.cast(packed, tf.int32)), [-1, width])
    return rows, frames, tf.cumsum(frames + frames % 2, exclusive=True)


def song_groups(cache, hparams, split="train", key=layout.KEY, seed=None):
    """The songs of one split, `GROUP` at a time, as `decode_group`'s `(rows, frames, start)`.

    Args:
      key: the key the songs must be in ("c" or "as-is"); a cache holds its songs in one, chosen
        when it was prepared, and is refused for the other.
      seed: None reads shards and songs in manifest order; an int shuffles the shards' order and
        the songs within a buffer of `SHUFFLE_SONGS`, another order each time it is iterated.
    Returns:
      `(dataset, frames)`: the dataset and the songs' frame counts (`corpus.songs_of`).
    Raises:
      corpus.CacheError: an incomplete cache, a missing shard, or songs the model can't read.
    """
    head, shards, frames = corpus.songs_of(cache, split)
    if not frames:
        raise corpus.CacheError(f"{cache}: no {split} songs; prepare it with more files")
    check_model(cache, head, hparams)
    if head.get("key") != key:
        raise corpus.CacheError(f"{cache}: holds songs in key {head.get('key')!r}, not {key!r}; "
                                f"train with --key {head.get('key')} or prepare another cache "
                                f"with --key {key}")
    paths = [os.path.join(cache, shard) for shard in shards]
    ds = tf.data.Dataset.from_tensor_slices(paths)

    def read(path):
        return tf.data.TFRecordDataset(path, compression_type="GZIP")

    if seed is None:  # one shard after another: the manifest's order
        ds = ds.flat_map(read)
    else:
        ds = ds.shuffle(len(paths), seed=seed).interleave(
            read, cycle_length=min(CYCLE_LENGTH, len(paths)))
        ds = ds.shuffle(SHUFFLE_SONGS, seed=seed + 1)
    # A group at a time: tf.data's cost is mostly per element and per op, not per byte.
    return ds.batch(GROUP).map(decode_group), frames


def chunks(rows, frames, start, num_timesteps, chunk_length):
    """A group's songs (`song_groups`) as vectors of `num_timesteps` rows, each song cut into
    consecutive pieces of at most `chunk_length` vectors, as `data.load_songs` and
    `training.split_into_chunks` make them: `(pieces uint8 [P, length, n_visible], lengths [P])`,
    each piece padded with zeros to `length` (`chunk_length`, or with 0 the longest song's
    vectors: songs whole). A song's last frames that make no whole vector are left out."""
    vectors = frames // num_timesteps  # [songs]
    length = tf.maximum(chunk_length if chunk_length > 0 else tf.reduce_max(vectors), 1)
    pieces = (vectors + length - 1) // length
    song = tf.repeat(tf.range(tf.size(vectors)), pieces)  # [P]
    index = tf.range(tf.size(song)) - tf.gather(tf.cumsum(pieces, exclusive=True), song)
    lengths = tf.minimum(length, tf.gather(vectors, song) - index * length)
    offset = tf.range(length * num_timesteps)[tf.newaxis]  # the rows of a piece, in order
    first = tf.gather(start, song) + index * length * num_timesteps
    inside = offset < (lengths * num_timesteps)[:, tf.newaxis]
    taken = tf.where(inside, first[:, tf.newaxis] + offset, tf.shape(rows)[0])  # else a zero row
    padded = tf.concat([rows, tf.zeros_like(rows[:1])], axis=0)
    return tf.reshape(tf.gather(padded, taken), [tf.size(song), length, -1]), lengths


def training_batches(cache, hparams, key, chunk_length, batch_size, seed, threads=THREADS):
    """`(dataset, frames)`: one epoch of padded batches `(v float32 [batch, time, n_visible],
    mask [batch, time])` from the cache's train split, shuffled by `seed`, read by `threads`
    threads; and the songs' frame counts (`song_groups`).

    Chunks of similar length go together, as in `training.batches`: the chunks of each group of
    songs are sorted by length and cut into batches, and the batches are shuffled in a buffer of
    `SHUFFLE_BATCHES`. A dataset made once yields a new order each time it is iterated (the same
    orders for the same seed), so one dataset serves every epoch.
    """
    ds, frames = song_groups(cache, hparams, "train", key, seed=seed)
    nt = hparams.num_timesteps

    def grouped_batches(*group):  # [batches, batch_size, length, n_visible], short ones padded
        pieces, lengths = chunks(*group, nt, chunk_length)
        order = tf.argsort(lengths, stable=True)
        spare = -tf.size(lengths) % batch_size  # empty pieces filling the last batch
        pieces = tf.pad(tf.gather(pieces, order), [[0, spare], [0, 0], [0, 0]])
        lengths = tf.pad(tf.gather(lengths, order), [[0, spare]])
        return (tf.reshape(pieces, tf.concat([[-1, batch_size], tf.shape(pieces)[1:]], 0)),
                tf.reshape(lengths, [-1, batch_size]))

    ds = ds.map(grouped_batches).unbatch().shuffle(SHUFFLE_BATCHES, seed=seed + 2)

    def padded(v, lengths):  # [batch, time]: time the longest chunk's, rounded up (see TIME_GRAIN)
        real = lengths > 0
        v, lengths = tf.boolean_mask(v, real), tf.boolean_mask(lengths, real)
        longest = tf.minimum(-(-tf.reduce_max(lengths) // TIME_GRAIN) * TIME_GRAIN, tf.shape(v)[1])
        return (tf.cast(v[:, :longest], tf.float32),
                tf.sequence_mask(lengths, longest, tf.float32))

    # On a CPU the train step keeps every core busy, and a pipeline with threads of its own and
    # autotuning competes with it: on two cores that halved training's speed (0.47 of the
    # in-memory path's; one thread: about 0.85, docs/distributed.md). Feeding a GPU, give it more.
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return ds.map(padded).prefetch(2).with_options(options), frames


def song_blocks(groups, hparams, max_vectors=2 ** 16):
    """The songs of `groups` (`song_groups` without a seed: manifest order), as blocks for
    `weight_initializations`' compiled epoch: `(vectors float32 [N, n_visible], bounds int32
    [songs + 1])`, each block at most `max_vectors` vectors (or one song, if longer)."""
    nt = hparams.num_timesteps
    block, size = [], 0
    for rows, frames, start in groups.as_numpy_iterator():
        for n, first in zip(frames // nt, start):
            if not n:
                continue  # shorter than one vector: left out, as data.load_songs does
            if block and size + n > max_vectors:
                yield _block(block)
                block, size = [], 0
            block.append(rows[first:first + n * nt].reshape(n, hparams.n_visible))
            size += n
    if block:
        yield _block(block)


def _block(block):
    bounds = np.cumsum([0] + [len(s) for s in block]).astype(np.int32)
    return np.concatenate(block).astype(np.float32), bounds
