"""Reading a prepared corpus (`corpus.py`) with `tf.data`, for training and pre-training.

Memory stays bounded whatever the corpus's size: shards are read a few at a time (interleaved),
songs are shuffled in a buffer of `SHUFFLE_SONGS` bit-packed records and cut into chunks that are
shuffled in a buffer of `SHUFFLE_CHUNKS`, batches are grouped by length and prefetched. The songs
become the same vectors `data.load_songs` makes of the MIDI files (a test checks it): note-state
frames grouped `num_timesteps` to a vector, moved to C by the same rule as `data.to_c`.
"""
import os

import numpy as np
import tensorflow as tf

import corpus
import layout
import music_metrics

SHUFFLE_SONGS = 256    # records in the song shuffle buffer (bit-packed: ~20 KB a song)
SHUFFLE_CHUNKS = 256   # chunks in the chunk shuffle buffer (uint8: ~60 KB a chunk)
CYCLE_LENGTH = 4       # shards read at once
THREADS = 1            # threads of the pipeline (see training_batches)
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


def decode(record, width=2 * layout.SPAN):
    """A serialized record -> its note-state matrix, `uint8 [frames, width]`."""
    parsed = tf.io.parse_single_example(record, _FEATURES)
    packed = tf.io.decode_raw(parsed["bits"], tf.uint8)
    shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], tf.uint8)  # np.packbits puts bit 0 highest
    cells = tf.bitwise.bitwise_and(tf.bitwise.right_shift(packed[:, tf.newaxis], shifts), 1)
    frames = tf.cast(parsed["frames"], tf.int32)
    return tf.reshape(tf.reshape(cells, [-1])[:frames * width], [frames, width])


_SCALES = np.array([[(pc - tonic) % 12 in music_metrics.MAJOR_SCALE for pc in range(12)]
                    for tonic in range(12)], np.int32)  # [tonic, pitch class]: 1 inside the scale


def to_c(frames, lowest_note=layout.LOWEST_NOTE):
    """`data.to_c` in TensorFlow: frames `[T, 2 * span]` moved by the fewest semitones that put
    the tonic of their best-fitting major scale on C, notes moved off either end dropped."""
    span = frames.shape[1] // 2
    play, struck = frames[:, :span] > 0, frames[:, span:] > 0
    was_playing = tf.concat([tf.zeros_like(play[:1]), play[:-1]], axis=0)
    onsets = tf.reduce_sum(tf.cast(play & (struck | ~was_playing), tf.int32), axis=0)  # [span]
    per_class = tf.math.unsorted_segment_sum(onsets, (lowest_note + tf.range(span)) % 12, 12)
    fits = tf.linalg.matvec(tf.constant(_SCALES), per_class)  # [12 tonics]
    tonic = tf.reduce_min(tf.where(tf.equal(fits, tf.reduce_max(fits)))[:, 0])  # ties: lowest
    shift = tf.cast(tf.where(tonic <= 6, -tonic, 12 - tonic), tf.int32)
    kept = tf.cast((tf.range(span) - shift >= 0) & (tf.range(span) - shift < span), frames.dtype)
    halves = [tf.roll(h, shift, axis=1) * kept for h in (frames[:, :span], frames[:, span:])]
    return tf.concat(halves, axis=1)


def songs(cache, hparams, split="train", key=layout.KEY, seed=None):
    """The songs of one split as `uint8 [T_i // num_timesteps, n_visible]` vectors.

    Args:
      key: "c" moves each song to C major / A minor as `data.to_c`, "as-is" leaves it.
      seed: None reads shards and songs in manifest order; an int shuffles the shards' order and
        the songs within a buffer of `SHUFFLE_SONGS`.
    Returns:
      `(dataset, frames)`: the dataset and its songs' frame counts (`corpus.songs_of`).
    Raises:
      corpus.CacheError: an incomplete cache, a missing shard, or a layout the model can't read.
    """
    head, shards, frames = corpus.songs_of(cache, split)
    if not frames:
        raise corpus.CacheError(f"{cache}: no {split} songs; prepare it with more files")
    check_model(cache, head, hparams)
    nt = hparams.num_timesteps
    paths = [os.path.join(cache, shard) for shard in shards]
    ds = tf.data.Dataset.from_tensor_slices(paths)

    def read(path):
        return tf.data.TFRecordDataset(path, compression_type="GZIP")

    if seed is None:  # one shard after another: the manifest's order
        ds = ds.flat_map(read)
    else:
        ds = ds.shuffle(len(paths), seed=seed).interleave(
            read, cycle_length=min(CYCLE_LENGTH, len(paths)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.shuffle(SHUFFLE_SONGS, seed=seed + 1)
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.filter(lambda m: tf.shape(m)[0] >= nt)

    def vectors(frames):
        frames = frames[:tf.shape(frames)[0] // nt * nt]
        if key == "c":
            frames = to_c(frames, hparams.lowest_note)
        return tf.reshape(frames, [-1, hparams.n_visible])

    return ds.map(vectors, num_parallel_calls=tf.data.AUTOTUNE), frames


def chunks(ds, chunk_length):
    """Each song cut into consecutive pieces of at most `chunk_length` vectors, as
    `training.split_into_chunks`, as `(chunk, length)` pairs; 0 keeps songs whole."""
    if chunk_length <= 0:
        return ds.map(lambda song: (song, tf.shape(song)[0]))

    def pieces(song):
        rows = tf.shape(song)[0]
        n = (rows + chunk_length - 1) // chunk_length
        padded = tf.pad(song, [[0, n * chunk_length - rows], [0, 0]])
        lengths = tf.minimum(chunk_length, rows - tf.range(n) * chunk_length)
        split = tf.data.Dataset.from_tensor_slices(
            (tf.reshape(padded, [n, chunk_length, -1]), lengths))
        return split.map(lambda chunk, length: (chunk[:length], length))

    return ds.flat_map(pieces)


def length_buckets(chunk_length):
    """Bucket boundaries for batching chunks of similar length: a quarter apart up to the chunk
    length (or up to 2**16 vectors for whole songs)."""
    top = chunk_length if chunk_length > 0 else 2 ** 16
    bounds = np.unique(np.geomspace(8, top, num=int(np.log(top / 8) / np.log(1.25)) + 2).round())
    return [int(b) for b in bounds[bounds > 1]] + [top + 1]


def training_batches(cache, hparams, key, chunk_length, batch_size, seed, threads=THREADS):
    """One epoch of padded batches `(v float32 [batch, time, n_visible], mask [batch, time])` from
    the cache's train split, shuffled by `seed` (one epoch's order per seed), read by `threads`
    threads."""
    ds, _ = songs(cache, hparams, "train", key, seed=seed)
    ds = chunks(ds, chunk_length).shuffle(SHUFFLE_CHUNKS, seed=seed + 2)
    bounds = length_buckets(chunk_length)
    ds = ds.bucket_by_sequence_length(lambda chunk, length: length, bounds,
                                      [batch_size] * (len(bounds) + 1))
    ds = ds.map(lambda v, lengths: (tf.cast(v, tf.float32),
                                    tf.sequence_mask(lengths, tf.shape(v)[1], tf.float32)))
    # On a CPU the train step keeps every core busy, and a pipeline with threads of its own and
    # autotuning competes with it: on two cores that halved training's speed (benchmarks/
    # bench_data.py: 0.47 of the in-memory path's, one thread: 0.97). Feeding a GPU, give it more.
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def song_blocks(cache, hparams, key, max_vectors=2 ** 16):
    """The train split's songs in manifest order, as blocks for `weight_initializations`'
    compiled epoch: `(vectors float32 [N, n_visible], bounds int32 [songs + 1])`, each block at
    most `max_vectors` vectors (or one song, if longer)."""
    ds, _ = songs(cache, hparams, "train", key)
    block, size = [], 0
    for song in ds.as_numpy_iterator():
        if block and size + len(song) > max_vectors:
            yield _block(block)
            block, size = [], 0
        block.append(song)
        size += len(song)
    if block:
        yield _block(block)


def _block(block):
    bounds = np.cumsum([0] + [len(s) for s in block]).astype(np.int32)
    return np.concatenate(block).astype(np.float32), bounds
