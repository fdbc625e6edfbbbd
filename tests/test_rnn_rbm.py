"""The RNN-RBM model: its hyperparameters, conditioning, masking and generation."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import SMALL, randomised_model

import layout
import RBM
import rnn_rbm
import training


def random_frames(rng, batch, time, n_visible):
    return (rng.random((batch, time, n_visible)) < 0.3).astype(np.float32)


def test_zero_sizes_are_refused():
    with pytest.raises(ValueError, match="n_hidden = 0: it must be a whole number, at least 1"):
        rnn_rbm.HParams(n_hidden=0)
    with pytest.raises(ValueError, match="highest_note 60 must be above lowest_note 60"):
        rnn_rbm.HParams(lowest_note=60, highest_note=60)


def test_hyperparameters_of_older_checkpoints_still_read():
    values = {"n_hidden": 6, "n_hidden_recurrent": 5, "lowest_note": 60, "highest_note": 64,
              "num_timesteps": 2, "articulation": True, "k_train": 3, "k_generate": 9}
    # k_train and k_generate are flags now; checkpoints written before the distribution field
    # existed hold RBMs.
    assert rnn_rbm.HParams.from_dict(values) == SMALL
    with pytest.raises(ValueError, match="unknown hyperparameters: colour"):
        rnn_rbm.HParams.from_dict(dict(values, colour="blue"))
    assert SMALL.n_visible == 16
    assert rnn_rbm.paper_hparams().n_visible == layout.BENCHMARK_KEYS


def test_the_rnn_holds_one_bias_weight_per_bias_of_the_distribution():
    model = rnn_rbm.RnnRbm(SMALL, seed=0)
    assert isinstance(model.distribution, RBM.RBM)
    assert [w.name for w in model.bias_weights] == ["Wuv:0", "Wuh:0"]
    assert model.Wuv.shape == (5, 16) and model.Wuh.shape == (5, 6)
    assert model.Wvu.shape == (16, 5) and model.Wuu.shape == (5, 5)
    assert model.distribution.W.shape == (16, 6)
    rnn = {"Wuv", "Wuh", "Wvu", "Wuu", "bu", "u0"}
    assert {x.name.split(":")[0] for x in model.trainable_variables} == rnn | {"W", "bv", "bh"}


def test_biases_match_a_step_by_step_numpy_recurrence():
    model = randomised_model()
    v = random_frames(np.random.default_rng(1), 2, 4, SMALL.n_visible)
    bv_t, bh_t = (x.numpy() for x in model.conditional_biases(tf.constant(v)))
    p = {x.name.split(":")[0]: x.numpy() for x in model.trainable_variables}
    for b in range(2):
        u = p["u0"]
        for t in range(4):
            np.testing.assert_allclose(bv_t[b, t], p["bv"] + u @ p["Wuv"], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(bh_t[b, t], p["bh"] + u @ p["Wuh"], rtol=1e-5, atol=1e-5)
            u = np.tanh(p["bu"] + v[b, t] @ p["Wvu"] + u @ p["Wuu"])


def test_rbm_at_step_t_does_not_see_frame_t():
    model = randomised_model()
    v = random_frames(np.random.default_rng(2), 1, 5, SMALL.n_visible)
    changed = v.copy()
    changed[0, 2] = 1.0 - changed[0, 2]
    before = [x.numpy() for x in model.conditional_biases(tf.constant(v))]
    after = [x.numpy() for x in model.conditional_biases(tf.constant(changed))]
    for b0, b1 in zip(before, after):
        np.testing.assert_array_equal(b0[:, :3], b1[:, :3])    # steps 0..2 unchanged
        assert np.abs(b0[:, 3] - b1[:, 3]).max() > 1e-3       # step 3 sees frame 2


def test_padding_does_not_change_the_cost():
    model = randomised_model()
    rng = np.random.default_rng(3)
    songs = [random_frames(rng, 1, n, SMALL.n_visible)[0] for n in (3, 5)]
    v, mask = training.pad_batch(songs, SMALL.n_visible)
    k = 2
    noise = (rng.random((k, 8, SMALL.n_hidden)).astype(np.float32),
             rng.random((k, 8, SMALL.n_visible)).astype(np.float32))
    batched = model.training_cost(tf.constant(v), tf.constant(mask), k, noise).numpy()
    # The same 8 frames, computed without padding: cost is the frame-weighted mean.
    parts, start = [], 0
    for s in songs:
        n = len(s)
        part_noise = (noise[0][:, start:start + n], noise[1][:, start:start + n])
        cost = model.training_cost(tf.constant(s[None]), tf.ones([1, n]), k, part_noise)
        parts.append(n * cost.numpy())
        start += n
    assert np.isclose(batched, sum(parts) / 8, atol=1e-5)


def test_cost_equals_free_energy_difference_by_hand():
    model = randomised_model()
    v = random_frames(np.random.default_rng(4), 1, 3, SMALL.n_visible)
    k = 1
    rng = np.random.default_rng(5)
    noise = (rng.random((k, 3, SMALL.n_hidden)).astype(np.float32),
             rng.random((k, 3, SMALL.n_visible)).astype(np.float32))
    cost = model.training_cost(tf.constant(v), tf.ones([1, 3]), k, noise).numpy()
    bv_t, bh_t = (x.numpy()[0] for x in model.conditional_biases(tf.constant(v)))
    W = model.distribution.W.numpy()
    negative = RBM.gibbs_chain(tf.constant(v[0]), W, bv_t, bh_t, k, noise).numpy()

    def fe(x):
        return -(x * bv_t).sum(1) - np.logaddexp(0, x @ W + bh_t).sum(1)

    assert np.isclose(cost, np.mean(fe(v[0]) - fe(negative)), atol=1e-5)
    frames, biases = model.frames_and_biases(tf.constant(v), tf.ones([1, 3]))
    np.testing.assert_array_equal(frames.numpy(), v[0])
    np.testing.assert_allclose(biases[0].numpy(), bv_t)
    np.testing.assert_allclose(biases[1].numpy(), bh_t)


def test_dropout_keeps_the_expected_biases_and_is_off_by_default():
    tf.random.set_seed(7)
    model = randomised_model(7)
    # No recurrence and a tiny input projection: u_t = tanh(v_t Wvu) is linear in the kept inputs,
    # so the biases' mean over many dropped-out copies is the biases without dropout.
    model.Wuu.assign(tf.zeros_like(model.Wuu))
    model.Wvu.assign(model.Wvu * 1e-3)
    v = random_frames(np.random.default_rng(7), 1, 3, SMALL.n_visible)
    plain = [x.numpy()[0] for x in model.conditional_biases(tf.constant(v))]
    for a, b in zip(plain, model.conditional_biases(tf.constant(v), 0.0)):
        np.testing.assert_array_equal(a, b.numpy()[0])
    copies = tf.constant(np.repeat(v, 20000, axis=0))
    dropped = [x.numpy() for x in model.conditional_biases(copies, 0.3)]
    for clean, noisy, bias in zip(plain, dropped, (x.numpy() for x in model.distribution.biases)):
        # step 1 reads u0 (dropped too); steps 2 and 3 read states made from dropped inputs
        assert noisy.std(axis=0).min() > 0.01
        np.testing.assert_allclose(noisy.mean(axis=0) - bias, clean - bias, rtol=0.05,
                                   atol=0.02 * np.abs(clean - bias).max())


def test_self_feeding_puts_the_models_draws_at_a_share_of_the_steps():
    model = randomised_model(8)
    model.distribution.bv.assign(tf.fill(model.distribution.bv.shape, -30.0))  # it draws silence
    v = np.ones((4, 500, SMALL.n_visible), np.float32)
    mask = np.ones((4, 500), np.float32)
    mask[1, 300:] = 0  # padding stays silent
    seed = tf.constant([3, 4], tf.int64)
    fed = model.self_fed_input(tf.constant(v), tf.constant(mask), 2, 0.25, seed).numpy()
    silent = (fed == 0).all(axis=2)
    assert ((fed == 0) | (fed == 1)).all() and ((fed == 1).all(axis=2) | silent).all()
    assert silent[1, 300:].all()
    real = mask > 0.5
    assert abs(silent[real].mean() - 0.25) < 0.03  # the model's (silent) draw at a quarter
    again = model.self_fed_input(tf.constant(v), tf.constant(mask), 2, 0.25, seed).numpy()
    np.testing.assert_array_equal(fed, again)  # a function of the seed
    # The cost reads the fed frames through the RNN and scores the data.
    cost = model.training_cost(tf.constant(v), tf.constant(mask), 2, seed=seed, self_feed=0.25)
    frames, biases = model.frames_and_biases(tf.constant(v), tf.constant(mask), 0.0, seed,
                                             tf.constant(fed))
    seed2 = tf.random.experimental.stateless_fold_in(seed, 2)
    expected = model.distribution.training_cost(frames, biases, 2, seed=seed2)
    np.testing.assert_allclose(cost.numpy(), expected.numpy(), rtol=1e-5)
    plain = model.training_cost(tf.constant(v), tf.constant(mask), 2, seed=seed)
    assert abs(plain.numpy() - cost.numpy()) > 1e-4


def test_self_fed_draws_are_constants_to_the_gradient():
    model = randomised_model(9)
    v = tf.constant(random_frames(np.random.default_rng(9), 2, 6, SMALL.n_visible))
    mask = tf.ones([2, 6])
    unconnected = []

    @tf.function  # as in a training step (the compiled chain is not differentiated eagerly)
    def gradients():
        with tf.GradientTape() as tape:
            fed = model.self_fed_input(v, mask, 2, 0.5, tf.constant([1, 2], tf.int64))
            total = tf.reduce_sum(fed)
        unconnected.extend(g is None for g in tape.gradient(total, model.trainable_variables))
        return total

    assert gradients().numpy() > 0 and len(unconnected) == 9 and all(unconnected)


def test_generate_shapes_values_and_single_trace():
    model = randomised_model(hparams=SMALL)
    sampler = rnn_rbm.make_sampler(model, layout.K_GENERATE)
    rng = np.random.default_rng(7)
    primer = tf.constant(random_frames(rng, 3, 4, SMALL.n_visible))
    out = sampler(tf.constant(7), primer).numpy()
    assert out.shape == (3, 7, SMALL.n_visible)
    assert set(np.unique(out)) <= {0.0, 1.0}
    out = sampler(tf.constant(5), tf.zeros([2, 0, SMALL.n_visible])).numpy()
    assert out.shape == (2, 5, SMALL.n_visible)
    assert sampler.experimental_get_tracing_count() == 1


def test_generation_uses_the_primer():
    """A model whose RNN copies the last frame into the visible bias repeats the primer's frame."""
    hp = rnn_rbm.HParams(n_hidden=2, n_hidden_recurrent=4, lowest_note=60, highest_note=64,
                         num_timesteps=1, articulation=False)
    model = rnn_rbm.RnnRbm(hp, seed=0)
    model.distribution.W.assign(tf.zeros_like(model.distribution.W))
    model.Wvu.assign(tf.eye(4) * 20.0)          # u_t ~ sign(v_t): +1 where the note sounds
    model.bu.assign(-10.0 * tf.ones(4))
    model.Wuv.assign(tf.eye(4) * 20.0)          # bias +20 on sounding notes, -20 elsewhere
    model.distribution.bv.assign(tf.zeros(4))
    primer = np.array([[[0, 0, 0, 0], [1, 0, 1, 0]]], np.float32)
    out = rnn_rbm.make_sampler(model, layout.K_GENERATE)(tf.constant(4), tf.constant(primer))
    np.testing.assert_array_equal(out.numpy()[0], np.tile([1, 0, 1, 0], (4, 1)))


@pytest.mark.parametrize("temperature", [1.0, 0.5, 0.0])
def test_generation_under_one_seed_repeats_exactly(temperature):
    model = randomised_model()
    primer = tf.zeros([3, 0, SMALL.n_visible])
    songs = []
    for _ in range(2):
        tf.random.set_seed(5)
        sampler = rnn_rbm.make_sampler(model, 4, temperature=temperature)
        songs.append(sampler(tf.constant(40), primer).numpy())
    np.testing.assert_array_equal(songs[0], songs[1])
    assert songs[0].shape == (3, 40, SMALL.n_visible) and 0 < songs[0].mean() < 1


def test_the_mode_last_step_keeps_only_the_notes_the_hidden_state_makes_likely():
    rbm = randomised_model().distribution
    bv = tf.fill([2000, SMALL.n_visible], -2.5)  # each unit on with probability about 0.08 alone
    bh = tf.fill([2000, SMALL.n_hidden], -20.0)  # hidden units all but certainly off
    drawn = rbm.sample(tf.zeros_like(bv), (bv, bh), 5).numpy()
    mode = rbm.sample(tf.zeros_like(bv), (bv, bh), 5, temperature=0.0).numpy()
    assert 0.03 < drawn.mean() < 0.2  # p(v | h = 0) = sigmoid(-2.5): stray notes when drawn
    assert mode.sum() == 0            # none of them is likely, so the mode is silence


@pytest.mark.parametrize("p, temperature, expected", [
    (0.2, 0.5, 1 / 17),     # p^2 / (p^2 + (1 - p)^2) = 0.04 / 0.68
    (0.2, 0.25, 1 / 257),   # p^4 / (p^4 + (1 - p)^4)
    (0.8, 0.5, 0.8),        # likely: drawn with its own p, not sharpened to 16 / 17
    (0.8, 0.25, 0.8),
    (0.2, 1.0, 0.2),
])
def test_a_tempered_last_step_sharpens_the_unlikely_notes_only(p, temperature, expected):
    rbm = randomised_model().distribution
    bv = tf.fill([4000, SMALL.n_visible], float(np.log(p / (1 - p))))
    bh = tf.fill([4000, SMALL.n_hidden], -30.0)  # h = 0, so p(v | h) = sigmoid(bv) = p
    seed = tf.constant([3, 4], tf.int64)
    drawn = rbm.sample(tf.zeros_like(bv), (bv, bh), 5, temperature=temperature, seed=seed)
    share = drawn.numpy().mean()
    cells = 4000 * SMALL.n_visible
    assert abs(share - expected) < 5 * np.sqrt(expected * (1 - expected) / cells)
