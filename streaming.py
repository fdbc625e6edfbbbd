"""Reading a prepared corpus (`corpus.py`) with `tf.data`, for training and pre-training.

Memory stays bounded whatever the corpus's size: `tf.data` reads the shards a few at a time
(interleaved), shuffles the songs in a buffer of `SHUFFLE_SONGS` bit-packed records, and hands
them over `GROUP` at a time, prefetched. Each group is then unpacked, cut into chunks and
batched by length in compiled functions, and its batches are drawn in a shuffled order. The songs
become the same vectors `data.load_songs` makes of the MIDI files (a test checks it): note-state
frames grouped `num_timesteps` to a vector (moved to C, when they were, as the cache was
prepared).

Why the unpacking and batching are not `tf.data` maps: on a CPU the same ops ran several times
slower inside a map than as a `tf.function` (the chunking of the bundled songs: 45 against 7 ms
an epoch, one thread), and that work competes with the train step for the same cores.
"""
import os

import numpy as np
import tensorflow as tf

import corpus
import layout

SHUFFLE_SONGS = 256    # records in the song shuffle buffer (bit-packed: ~20 KB a song)
GROUP = 64             # songs unpacked, cut and batched together (uint8: 156 bytes a frame)
CYCLE_LENGTH = 4       # shards read at once
THREADS = 1            # threads of the tf.data pipeline (see training_batches)
PREFETCH = 2           # groups read ahead, across the end of an epoch too (see training_batches)
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


# [byte, its 8 cells] as floats: unpacking through it writes training's float32 at once (a
# uint8 -> float32 cast took about 5 ns a cell on this machine's CPU, the table a fraction of it)
_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, np.newaxis], axis=1).astype(np.float32)


def read_group(records):
    """Several records as `(packed uint8 [bytes], frames int32 [songs])`: the songs' bit-packed
    matrices one after another, and their frame counts."""
    parsed = tf.io.parse_example(records, _FEATURES)
    return (tf.io.decode_raw(tf.strings.reduce_join(parsed["bits"]), tf.uint8),
            tf.cast(parsed["frames"], tf.int32))


@tf.function(input_signature=[tf.TensorSpec([None], tf.uint8), tf.TensorSpec([None], tf.int32)])
def unpack(packed, frames):
    """A group's note-state matrices (`read_group`), on the CPU: `(rows float32 [R + 1, 2 * SPAN],
    frames [songs], start [songs])`, the songs' rows one after another (each song's padded to an
    even number, see `corpus`) and two all-zero rows last, its frames, and where its rows start."""
    with tf.device("/cpu:0"):
        # Two zero rows added as packed bytes (a row is 19.5 bytes), not as unpacked floats.
        packed = tf.concat([packed, tf.zeros([2 * 2 * layout.SPAN // 8], tf.uint8)], axis=0)
        rows = tf.reshape(tf.gather(tf.constant(_BITS), tf.cast(packed, tf.int32)),
                          [-1, 2 * layout.SPAN])
        return rows, frames, tf.cumsum(frames + frames % 2, exclusive=True)


def song_groups(cache, hparams, split="train", key=layout.KEY, seed=None):
    """The songs of one split, `GROUP` at a time, as `read_group`'s `(packed, frames)`.

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
    return ds.batch(GROUP).map(read_group), frames


def chunk_rows(frames, start, num_timesteps, chunk_length, blank):
    """Where a group's chunks lie in its rows (`unpack`): each song cut into consecutive pieces
    of at most `chunk_length` vectors of `num_timesteps` rows, as `data.load_songs` and
    `training.split_into_chunks` make them. Returns `(taken int32 [P, length * num_timesteps],
    lengths [P])`: each piece's rows, then `blank` (the row index of an all-zero row) past its
    end, and its vectors; `length` is `chunk_length`, or with 0 the longest song's vectors (songs
    whole). A song's last frames that make no whole vector are left out."""
    vectors = frames // num_timesteps  # [songs]
    length = tf.maximum(chunk_length if chunk_length > 0 else tf.reduce_max(vectors), 1)
    pieces = (vectors + length - 1) // length
    song = tf.repeat(tf.range(tf.size(vectors)), pieces)  # [P]
    index = tf.range(tf.size(song)) - tf.gather(tf.cumsum(pieces, exclusive=True), song)
    lengths = tf.minimum(length, tf.gather(vectors, song) - index * length)
    offset = tf.range(length * num_timesteps)[tf.newaxis]  # the rows of a piece, in order
    first = tf.gather(start, song) + index * length * num_timesteps
    inside = offset < (lengths * num_timesteps)[:, tf.newaxis]
    return tf.where(inside, first[:, tf.newaxis] + offset, blank), lengths


def training_batches(cache, hparams, key, chunk_length, batch_size, seed, threads=THREADS):
    """`(next_epoch, frames)`: `next_epoch()` is an iterator over one more epoch of padded batches
    `(v float32 [batch, time, n_visible], mask [batch, time])` from the cache's train split,
    shuffled by `seed`; `frames` are the songs' frame counts (`song_groups`).

    Chunks of similar length go together, as in `training.batches`: the chunks of each group of
    songs are sorted by length and cut into batches, drawn in a random order. Every epoch is
    taken from one iterator over the groups, the epochs one after another with an empty group
    between, read by `threads` threads `PREFETCH` groups ahead: the reading of the next epoch
    (on a small corpus, all of it, to fill the song shuffle buffer) happens while this one trains.
    """
    groups, frames = song_groups(cache, hparams, "train", key, seed=seed)
    end = tf.data.Dataset.from_tensors((tf.zeros([0], tf.uint8), tf.zeros([0], tf.int32)))
    # On a CPU the train step keeps every core busy, and a pipeline with threads of its own and
    # autotuning competes with it: on two cores that halved training's speed (docs/distributed.md).
    # Feeding a GPU, give it more.
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    stream = iter(groups.concatenate(end).repeat().prefetch(PREFETCH).with_options(options))
    nt = hparams.num_timesteps
    plan = _planner(nt, chunk_length, batch_size)
    rng = np.random.default_rng(seed)

    def next_epoch():
        for packed, song_frames in stream:
            if song_frames.shape[0] == 0:
                return
            rows, song_frames, start = unpack(packed, song_frames)
            rows = rows.numpy()
            taken, lengths = (x.numpy() for x in plan(song_frames, start, len(rows) - 1))
            for b in rng.permutation(len(lengths)):
                real = lengths[b][lengths[b] > 0]  # the last batch's empty chunks left out
                longest = min(-(-real.max() // TIME_GRAIN) * TIME_GRAIN, taken.shape[2] // nt)
                v = np.take(rows, taken[b, :len(real), :longest * nt], axis=0)
                yield (v.reshape(len(real), longest, hparams.n_visible),
                       (np.arange(longest) < real[:, np.newaxis]).astype(np.float32))

    return next_epoch, frames


def _planner(num_timesteps, chunk_length, batch_size):
    """A compiled `(frames, start, blank) -> (taken int32 [batches, batch_size, length *
    num_timesteps], lengths [batches, batch_size])`, run on the CPU: a group's chunks
    (`chunk_rows`) sorted by length, every missing row (and the last batch's empty chunks)
    pointing at the all-zero row `blank`."""
    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)] * 2
                 + [tf.TensorSpec([], tf.int32)])
    def plan(frames, start, blank):
        with tf.device("/cpu:0"):
            taken, lengths = chunk_rows(frames, start, num_timesteps, chunk_length, blank)
            order = tf.argsort(lengths, stable=True)
            spare = -tf.size(lengths) % batch_size  # empty chunks filling the last batch
            taken = tf.pad(tf.gather(taken, order), [[0, spare], [0, 0]], constant_values=blank)
            lengths = tf.pad(tf.gather(lengths, order), [[0, spare]])
            return (tf.reshape(taken, [-1, batch_size, tf.shape(taken)[1]]),
                    tf.reshape(lengths, [-1, batch_size]))

    return plan


def song_blocks(groups, hparams, max_vectors=2 ** 16):
    """The songs of `groups` (`song_groups` without a seed: manifest order), as blocks for
    `weight_initializations`' compiled epoch: `(vectors float32 [N, n_visible], bounds int32
    [songs + 1])`, each block at most `max_vectors` vectors (or one song, if longer)."""
    nt = hparams.num_timesteps
    block, size = [], 0
    for packed, frames in groups:
        rows, frames, start = (x.numpy() for x in unpack(packed, frames))
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
    return np.concatenate(block), bounds
