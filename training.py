"""Training an `RnnRbm`: the optimizer, the compiled train step, and how songs become batches.

Training back-propagates through pieces of songs (`split_into_chunks`), several at a time
(`batches`): chunks of similar length are padded together and a `[batch, time]` mask marks the
real frames, so one traced step serves every batch. `make_distributed_train_step` makes the same
update with each batch split over the replicas of a `tf.distribute` strategy (`distribute.py`).
"""
import numpy as np
import tensorflow as tf

OPTIMIZERS = ("adam", "sgd")


def make_optimizer(name, variables, learning_rate):
    """Keras's Adam or plain SGD over `variables`, built so that its state exists before a
    checkpoint is read into it (both round-trip exactly through `tf.train.Checkpoint`).

    Adam's epsilon is 1e-8, Kingma & Ba's value (Keras defaults to 1e-7).
    """
    if name == "adam":
        optimizer = tf.keras.optimizers.Adam(learning_rate, epsilon=1e-8)
    elif name == "sgd":
        optimizer = tf.keras.optimizers.SGD(learning_rate)
    else:
        raise ValueError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    optimizer.build(variables)
    return optimizer


def batch_signature(n_visible):
    """The `input_signature` of a step over padded batches: `v [batch, time, n_visible]` and
    `mask [batch, time]`, with None for batch and time so one trace serves every batch."""
    return [tf.TensorSpec([None, None, n_visible], tf.float32),
            tf.TensorSpec([None, None], tf.float32)]


def clipped_update(optimizer, variables, cost_fn, grad_clip):
    """Differentiates `cost_fn()` with respect to `variables`, clips each gradient element to
    +-grad_clip (as the original repository did) and applies the optimizer; returns the cost."""
    with tf.GradientTape() as tape:
        cost = cost_fn()
    grads = tape.gradient(cost, variables)
    optimizer.apply_gradients(
        [(tf.clip_by_value(g, -grad_clip, grad_clip), x) for g, x in zip(grads, variables)])
    return cost


def make_train_step(model, optimizer, k, grad_clip=10.0, dropout=0.0, from_silence=False,
                    self_feed=0.0):
    """A `tf.function` doing one update on a padded batch; traced once for every batch and length.

    Args:
      k: Gibbs steps of CD-k (unused by an exact distribution).
      grad_clip: gradients are clipped elementwise to +-grad_clip.
      dropout: drops that share of the RNN's input notes and of the states that set the biases,
        in this step only (`RnnRbm.conditional_biases`).
      from_silence: start CD's chains from silence, as generation does, not from the data.
      self_feed: share of the steps at which the RNN reads the model's own draw instead of the
        data (`RnnRbm.self_fed_input`).
    Returns:
      `train_step(v [batch, time, n_visible], mask [batch, time]) -> cost` (a scalar tensor).
    """
    variables = model.trainable_variables

    @tf.function(input_signature=batch_signature(model.hparams.n_visible))
    def train_step(v, mask):
        return clipped_update(optimizer, variables,
                              lambda: model.training_cost(v, mask, k, dropout=dropout,
                                                          from_silence=from_silence,
                                                          self_feed=self_feed), grad_clip)

    return train_step


def make_distributed_train_step(strategy, model, optimizer, k, grad_clip=10.0, dropout=0.0,
                                from_silence=False, cost_fn=None, self_feed=0.0):
    """`make_train_step` for a `tf.distribute.Strategy`: every replica takes its share of one
    global batch, and the update is the one a single device makes on the whole batch.

    Create the model's variables and the optimizer (`make_optimizer`) under `strategy.scope()`,
    and feed the step from `strategy.experimental_distribute_dataset(ds)`, where `ds` yields
    global batches `(v [batch, time, n_visible], mask [batch, time])`: that splits each batch in
    order over the replicas (and, with several workers, over the machines; see docs/distributed.md
    for the dataset's options).
    Args:
      strategy: the `tf.distribute.Strategy` the variables were made under.
      k, grad_clip, dropout, from_silence, self_feed: as `make_train_step`.
      cost_fn: optional `(v, mask) -> cost`, the mean over a replica's real frames, instead of
        `model.training_cost` (tests pass one with pre-drawn noise). It runs only on replicas
        whose share holds real frames, so it must not use the replicas' collective operations.
    Returns:
      `train_step(v, mask) -> cost`, taking one element of the distributed dataset and returning
      the mean cost over the global batch's real frames (a scalar tensor), traced once for
      every batch and length.
    """
    variables = model.trainable_variables

    def replica_cost(v, mask, seed):
        if cost_fn is not None:
            return cost_fn(v, mask)
        return model.training_cost(v, mask, k, dropout=dropout, from_silence=from_silence,
                                   seed=replica_seed(seed),  # each replica its own draws
                                   self_feed=self_feed)

    def replica_step(v, mask, seed):
        frames = tf.reduce_sum(tf.cast(mask > 0.5, tf.float32))
        return _replica_update(optimizer, variables, lambda: replica_cost(v, mask, seed), frames,
                               grad_clip)

    @tf.function(input_signature=distributed_batch_signature(strategy, model.hparams.n_visible))
    def train_step(v, mask):
        seed = tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64)  # one per step
        costs = strategy.run(replica_step, args=(v, mask, seed))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, costs, axis=None)

    return train_step


def _replica_update(optimizer, variables, cost_fn, frames, grad_clip):
    """`clipped_update` in one replica of a distributed step, whose share of the batch holds
    `frames` real frames and whose `cost_fn()` is their mean cost. Returns the replica's part of
    the global mean: its cost weighted by its share of all replicas' frames."""
    context = tf.distribute.get_replica_context()
    share = frames / tf.maximum(context.all_reduce(tf.distribute.ReduceOp.SUM, frames), 1.0)
    with tf.GradientTape() as tape:
        # A replica without real frames (the end of a short batch) would average over no rows, a
        # NaN, whose gradient stays NaN even when multiplied by 0: it does not compute it.
        cost = tf.cond(frames > 0, lambda: cost_fn() * share, lambda: tf.zeros([]))
    grads = context.all_reduce(tf.distribute.ReduceOp.SUM, tape.gradient(cost, variables))
    # Clipped after the sum, so clipping acts on the global gradient as on one device. Keras's
    # optimizer sums the gradients over the replicas once more when it is called in a replica
    # context (its own losses are scaled by 1/replicas for that), so each replica hands over its
    # share of the clipped global gradient.
    share_of_replicas = 1.0 / context.num_replicas_in_sync
    optimizer.apply_gradients([(tf.clip_by_value(g, -grad_clip, grad_clip) * share_of_replicas, x)
                               for g, x in zip(grads, variables)])
    return cost


def distributed_batch_signature(strategy, n_visible):
    """`batch_signature` as `strategy` hands it to its replicas (a per-replica spec where there
    are several), read off a distributed dataset of no batches. As an `input_signature` it makes
    one trace of a step serve every batch: the values of a distributed batch carry their own
    shapes, so without it each new shape would trace the step again."""
    empty = tf.data.Dataset.from_generator(lambda: iter(()),
                                           output_signature=tuple(batch_signature(n_visible)))
    return list(strategy.experimental_distribute_dataset(empty).element_spec)


def replica_seed(seed):
    """`seed` (`[2]` int64) folded with this replica's index among all replicas of all workers:
    the replicas would otherwise run the same graph on the same seeds and draw the same noise."""
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int64))


def split_into_chunks(songs, chunk_length):
    """Cuts every song `[T_i, n_visible]` into consecutive pieces of at most `chunk_length` steps.

    Training back-propagates through one piece at a time, each starting from u0, as the paper and
    the original repository did with 100-step pieces. A `chunk_length` of 0 keeps songs whole.
    """
    if chunk_length <= 0:
        return list(songs)
    return [song[i:i + chunk_length] for song in songs for i in range(0, len(song), chunk_length)]


def pad_batch(sequences, n_visible):
    """Stacks sequences of different lengths into
    `(v [batch, time, n_visible], mask [batch, time])`,
    padding with zeros after each sequence's end."""
    length = max(len(s) for s in sequences)
    v = np.zeros((len(sequences), length, n_visible), np.float32)
    mask = np.zeros((len(sequences), length), np.float32)
    for i, s in enumerate(sequences):
        v[i, :len(s)] = s
        mask[i, :len(s)] = 1.0
    return v, mask


def batches(chunks, batch_size, rng=None):
    """Yields padded batches `(v, mask)` of `batch_size` chunks.

    Chunks of similar length go together (sorted by length, then the batches are shuffled with
    `rng` when given), so little work is spent on padding.
    """
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i]))
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(groups)
    n_visible = chunks[0].shape[1]
    for group in groups:
        yield pad_batch([chunks[i] for i in group], n_visible)


def transpose_batch(v, max_shift, rng):
    """Shifts each sequence of a padded batch of piano rolls by its own random number of semitones.

    Args:
      v: `[batch, time, keys]` 0/1 frames, one unit per key (the benchmark layout: no articulation
        half, one frame per vector).
      max_shift: largest shift in semitones, up or down.
      rng: a numpy Generator.
    Returns:
      A new array like `v`. Sequence b moves by an integer drawn uniformly from the shifts in
      [-max_shift, max_shift] that keep all its notes on the keyboard (0 if none is possible).
    """
    out = np.zeros_like(v)
    keys = v.shape[2]
    for b in range(v.shape[0]):
        played = np.flatnonzero(v[b].any(axis=0))
        if played.size == 0:
            continue
        low, high = max(-max_shift, -int(played[0])), min(max_shift, keys - 1 - int(played[-1]))
        shift = int(rng.integers(low, high + 1)) if low <= high else 0
        if shift >= 0:
            out[b, :, shift:] = v[b, :, :keys - shift]
        else:
            out[b, :, :shift] = v[b, :, -shift:]
    return out
