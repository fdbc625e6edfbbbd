"""Training: the batched step computes what song-at-a-time training computes, given the same
random draws; the optimizer, gradient clipping, and how songs become padded batches."""
import numpy as np
import pytest
import tensorflow as tf

import layout
import RBM
import rnn_rbm
import training

HPARAMS = rnn_rbm.HParams(n_hidden=5, n_hidden_recurrent=4, lowest_note=0, highest_note=6,
                          num_timesteps=1, articulation=False)
K = 3           # Gibbs steps of CD-k in these tests
LENGTHS = [5, 3, 7]  # one song per row of the padded batch, each shorter than the longest
SMALL = rnn_rbm.HParams(n_hidden=6, n_hidden_recurrent=5, lowest_note=60, highest_note=64,
                        num_timesteps=2, articulation=True)  # 16 visible units


def _model_and_songs():
    model = rnn_rbm.RnnRbm(HPARAMS, seed=1)
    rng = np.random.default_rng(0)
    # Weights well away from their tiny initial values, so that every term of the cost matters.
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0.0, 0.5, variable.shape).astype(np.float32))
    songs = [(rng.random([n, HPARAMS.n_visible]) < 0.4).astype(np.float32) for n in LENGTHS]
    return model, songs


def _cost_and_grads(model, v, mask, noise):
    with tf.GradientTape() as tape:
        cost = model.training_cost(tf.constant(v), tf.constant(mask), K, noise=noise)
    return cost.numpy(), [g.numpy() for g in tape.gradient(cost, model.trainable_variables)]


def test_batched_cost_and_gradients_equal_the_frame_weighted_songs():
    model, songs = _model_and_songs()
    frames = sum(LENGTHS)
    v, mask = training.pad_batch(songs, HPARAMS.n_visible)
    noise = RBM.uniform_noise(K, frames, HPARAMS.n_hidden, HPARAMS.n_visible)
    batch_cost, batch_grads = _cost_and_grads(model, v, mask, noise)

    # The batch's real frames are its songs' frames in order, so song i owns rows
    # [start, start + n) of the noise.
    cost, grads, start = 0.0, [0.0] * len(batch_grads), 0
    for song in songs:
        n = len(song)
        song_noise = tuple(u[:, start:start + n] for u in noise)
        song_cost, song_grads = _cost_and_grads(model, song[np.newaxis],
                                                np.ones([1, n], np.float32), song_noise)
        cost += song_cost * n / frames
        grads = [g + sg * n / frames for g, sg in zip(grads, song_grads)]
        start += n
    assert abs(batch_cost) > 1e-3  # a cost of 0 would make the comparison empty
    np.testing.assert_allclose(batch_cost, cost, rtol=1e-5, atol=1e-6)
    for variable, g, expected in zip(model.trainable_variables, batch_grads, grads):
        assert np.abs(expected).max() > 0, variable.name
        np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-6, err_msg=variable.name)


def test_train_step_is_traced_once_for_every_batch_and_length():
    model, songs = _model_and_songs()
    optimizer = training.make_optimizer("sgd", model.trainable_variables, 0.01)
    step = training.make_train_step(model, optimizer, K)
    for batch in ([songs[0]], songs[1:]):  # two batch sizes and two lengths
        v, mask = training.pad_batch(batch, HPARAMS.n_visible)
        assert np.isfinite(step(v, mask).numpy())
    assert step.experimental_get_tracing_count() == 1


def test_train_step_traces_once_and_lowers_the_cost():
    tf.random.set_seed(6)
    model = rnn_rbm.RnnRbm(SMALL, seed=6)
    optimizer = training.make_optimizer("adam", model.trainable_variables, 0.05)
    step = training.make_train_step(model, optimizer, layout.K_TRAIN)
    rng = np.random.default_rng(6)
    pattern = (rng.random((4, SMALL.n_visible)) < 0.3).astype(np.float32)
    songs = [np.tile(pattern, (n, 1)) for n in (3, 4, 6)]  # a repeating, learnable sequence
    for _ in range(60):
        for length in (1, 2, 3):
            v, mask = training.pad_batch(songs[:length], SMALL.n_visible)
            step(v, mask)
    assert step.experimental_get_tracing_count() == 1
    frames = np.concatenate(songs)
    bv_t, bh_t = model.conditional_biases(tf.constant(frames[None]))
    free = RBM.free_energy(frames, model.distribution.W, bv_t[0], bh_t[0]).numpy()
    assert free.mean() < -5.0  # the data frames became likely under their conditional RBMs


def test_train_step_with_dropout_is_repeatable_and_differs_from_without():
    rng = np.random.default_rng(8)
    v = (rng.random((3, 5, SMALL.n_visible)) < 0.3).astype(np.float32)
    mask = np.ones([3, 5], np.float32)

    def first_costs(dropout):
        tf.random.set_seed(8)
        model = rnn_rbm.RnnRbm(SMALL, seed=8)
        optimizer = training.make_optimizer("adam", model.trainable_variables, 0.05)
        step = training.make_train_step(model, optimizer, layout.K_TRAIN, dropout=dropout)
        return [float(step(v, mask)) for _ in range(3)]

    with_dropout = first_costs(0.5)
    assert with_dropout == first_costs(0.5)
    # compared from the second step on, once updates made under dropout have moved the weights
    assert with_dropout[1:] != first_costs(0.0)[1:]


def test_train_step_clips_every_gradient_element():
    # Independent units: the cost is exact, so one SGD step at rate 1 moves every variable by
    # exactly its gradient clipped to +-0.01.
    hp = rnn_rbm.HParams(n_hidden=2, n_hidden_recurrent=3, lowest_note=60, highest_note=64,
                         num_timesteps=1, articulation=False, distribution="bernoulli")
    model = rnn_rbm.RnnRbm(hp, seed=2)
    rng = np.random.default_rng(2)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0, 1, variable.shape).astype(np.float32))
    v = (rng.random((2, 4, 4)) < 0.5).astype(np.float32)
    mask = np.ones((2, 4), np.float32)
    with tf.GradientTape() as tape:
        cost = model.training_cost(v, mask, k=1)
    grads = [g.numpy() for g in tape.gradient(cost, model.trainable_variables)]
    assert max(np.abs(g).max() for g in grads) > 0.05  # some elements are clipped ...
    assert min(np.abs(g).min() for g in grads) < 0.01  # ... and some are not
    before = [x.numpy() for x in model.trainable_variables]
    optimizer = training.make_optimizer("sgd", model.trainable_variables, 1.0)
    step = training.make_train_step(model, optimizer, k=1, grad_clip=0.01)
    assert float(step(v, mask)) == pytest.approx(float(cost), rel=1e-6)
    for x, start, g in zip(model.trainable_variables, before, grads):
        np.testing.assert_allclose(x.numpy(), start - np.clip(g, -0.01, 0.01), rtol=1e-5,
                                   atol=1e-6, err_msg=x.name)


def test_optimizers_are_built_with_their_state_before_the_first_step():
    model = rnn_rbm.RnnRbm(SMALL, seed=0)
    variables = model.trainable_variables
    adam = training.make_optimizer("adam", variables, 0.01)
    assert isinstance(adam, tf.keras.optimizers.Adam)
    assert adam.epsilon == 1e-8 and float(adam.learning_rate) == pytest.approx(0.01)
    assert int(adam.iterations) == 0
    # a first and a second moment for every variable, plus the step count and learning rate
    assert len(adam.variables) == 2 * len(variables) + 2
    sgd = training.make_optimizer("sgd", variables, 0.1)
    assert isinstance(sgd, tf.keras.optimizers.SGD) and int(sgd.iterations) == 0
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop': use one of adam, sgd"):
        training.make_optimizer("rmsprop", variables, 0.1)


def test_chunks_and_batches_cover_every_frame_once():
    songs = [np.full((n, 3), n, np.float32) for n in (5, 12, 1)]
    chunks = training.split_into_chunks(songs, 4)
    assert [len(c) for c in chunks] == [4, 1, 4, 4, 4, 1]
    assert [len(c) for c in training.split_into_chunks(songs, 0)] == [5, 12, 1]  # whole songs
    total = 0
    for v, mask in training.batches(chunks, 4, np.random.default_rng(0)):
        assert v.shape[:2] == mask.shape
        total += mask.sum()
        assert (v[mask == 0] == 0).all()
    assert total == 18


def test_pad_batch_puts_each_sequence_first_and_masks_the_rest():
    v, mask = training.pad_batch([np.ones((2, 3)), 2 * np.ones((4, 3))], 3)
    assert v.shape == (2, 4, 3) and v.dtype == np.float32
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(v[0, :, 0], [1, 1, 0, 0])
    np.testing.assert_array_equal(v[1, :, 0], [2, 2, 2, 2])


def test_transposition_moves_each_sequence_as_a_whole_and_stays_on_the_keyboard():
    v = np.zeros((3, 4, 88), np.float32)
    v[0, 0, [40, 44, 47]] = v[0, 2, 52] = 1   # room both ways
    v[1, 1, [85, 87]] = 1                      # at the top: can only go down
    # sequence 2 is silence (padding): stays zero
    rng = np.random.default_rng(0)
    shifts = {0: set(), 1: set()}
    for _ in range(200):
        out = training.transpose_batch(v, 5, rng)
        assert out.shape == v.shape and not out[2].any()
        for b in (0, 1):
            assert out[b].sum() == v[b].sum()
            shift = int(np.flatnonzero(out[b].any(0))[0] - np.flatnonzero(v[b].any(0))[0])
            # the same shift for every frame
            np.testing.assert_array_equal(np.roll(v[b], shift, axis=1), out[b])
            shifts[b].add(shift)
    assert shifts[0] == set(range(-5, 6)) and shifts[1] == set(range(-5, 1))
