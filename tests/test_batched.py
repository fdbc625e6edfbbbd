"""Batched training computes what song-at-a-time training computes, given the same random draws."""
import numpy as np
import tensorflow as tf

import RBM
import rnn_rbm

HPARAMS = rnn_rbm.HParams(n_hidden=5, n_hidden_recurrent=4, lowest_note=0, highest_note=6,
                          num_timesteps=1, articulation=False, k_train=3)
LENGTHS = [5, 3, 7]  # one song per row of the padded batch, each shorter than the longest


def _model_and_songs():
    model = rnn_rbm.RnnRbm(HPARAMS, seed=1)
    rng = np.random.default_rng(0)
    # Weights well away from their tiny initial values, so that every term of the cost matters.
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0.0, 0.5, variable.shape).astype(np.float32))
    songs = [(rng.random([n, HPARAMS.n_visible]) < 0.4).astype(np.float32) for n in LENGTHS]
    return model, songs


def _padded(songs):
    """`(v [batch, longest, n_visible], mask [batch, longest])` holding `songs`, zero-padded."""
    longest = max(len(s) for s in songs)
    v = np.zeros([len(songs), longest, HPARAMS.n_visible], np.float32)
    mask = np.zeros([len(songs), longest], np.float32)
    for i, song in enumerate(songs):
        v[i, :len(song)], mask[i, :len(song)] = song, 1.0
    return v, mask


def _cost_and_grads(model, v, mask, noise):
    with tf.GradientTape() as tape:
        cost = model.free_energy_cost(tf.constant(v), tf.constant(mask), noise=noise)
    return cost.numpy(), [g.numpy() for g in tape.gradient(cost, model.trainable_variables)]


def test_batched_cost_and_gradients_equal_the_frame_weighted_songs():
    model, songs = _model_and_songs()
    frames = sum(LENGTHS)
    v, mask = _padded(songs)
    noise = RBM.uniform_noise(HPARAMS.k_train, frames, HPARAMS.n_hidden, HPARAMS.n_visible)
    batch_cost, batch_grads = _cost_and_grads(model, v, mask, noise)

    # The batch's real frames are its songs' frames in order, so song i owns rows
    # [start, start + n) of the noise.
    cost, grads, start = 0.0, [0.0] * len(batch_grads), 0
    for song in songs:
        n = len(song)
        song_noise = tuple(u[:, start:start + n] for u in noise)
        song_cost, song_grads = _cost_and_grads(model, song[np.newaxis], np.ones([1, n], np.float32),
                                                song_noise)
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
    step = rnn_rbm.make_train_step(model, rnn_rbm.make_optimizer("sgd", model.trainable_variables, 0.01))
    for batch in ([songs[0]], songs[1:]):  # two batch sizes and two lengths
        v, mask = _padded(batch)
        assert np.isfinite(step(v, mask).numpy())
    assert step.experimental_get_tracing_count() == 1


def test_uniform_noise_is_on_the_16_bit_grid_and_gives_bernoulli_frequencies():
    tf.random.set_seed(3)
    uniform_h, uniform_v = RBM.uniform_noise(4, 2500, 7, 5)  # odd widths: the last half-word unused
    assert uniform_h.shape == (4, 2500, 7) and uniform_v.shape == (4, 2500, 5)
    grid = uniform_h.numpy() * 2 ** RBM.NOISE_BITS - 0.5
    np.testing.assert_array_equal(grid, np.round(grid))
    assert grid.min() >= 0 and grid.max() <= 2 ** RBM.NOISE_BITS - 1
    # 70,000 draws: the frequency of u < p is within 4 standard errors (0.007) of p.
    for p in (0.05, 0.5, 0.9):
        frequency = RBM.sample(tf.fill(uniform_h.shape, p), uniform_h).numpy().mean()
        assert abs(frequency - p) < 4 * np.sqrt(p * (1 - p) / uniform_h.numpy().size), p
