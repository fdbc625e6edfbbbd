"""The distributions of a time step: the NADE's and the independent units' exact probabilities and
draws, the interface they share with `RBM.RBM`, and the RNN-NADE and plain RNN built on them."""
import itertools

import numpy as np
import pytest
import tensorflow as tf

import distributions
import RBM
import rnn_rbm
import training

ALL_FRAMES = np.array(list(itertools.product([0, 1], repeat=6)), np.float32)

# Six keys, one frame per step, no articulation half: small enough to enumerate all 64 frames.
NADE_HP = rnn_rbm.HParams(n_hidden=5, n_hidden_recurrent=4, lowest_note=60, highest_note=66,
                          num_timesteps=1, articulation=False, distribution="nade")
BERNOULLI_HP = rnn_rbm.HParams(n_hidden=3, n_hidden_recurrent=4, lowest_note=60, highest_note=65,
                               num_timesteps=1, articulation=False, distribution="bernoulli")


def random_nade(rng, n_visible=6, n_hidden=5, rows=1):
    """A NADE with weights large enough to make the units depend on each other, and `rows` rows
    of biases `(bv [rows, n_visible], bh [rows, n_hidden])`."""
    nade = distributions.NADE(n_visible, n_hidden, tf.random.Generator.from_seed(0))
    nade.W.assign(rng.normal(0, 1.5, (n_visible, n_hidden)).astype(np.float32))
    nade.V.assign(rng.normal(0, 1.5, (n_visible, n_hidden)).astype(np.float32))
    return nade, (rng.normal(-1, 1, (rows, n_visible)).astype(np.float32),
                  rng.normal(0, 1, (rows, n_hidden)).astype(np.float32))


def log_prob_by_hand(v, W, V, bv, bh):
    """The NADE's definition, one unit at a time, in float64."""
    total, a = 0.0, bh.astype(np.float64)
    for i in range(len(v)):
        p = 1 / (1 + np.exp(-(bv[i] + (1 / (1 + np.exp(-a))) @ V[i])))
        total += np.log(p if v[i] else 1 - p)
        a = a + v[i] * W[i]
    return total


def repeated(biases, n):
    return tuple(np.repeat(b, n, 0) for b in biases)


def test_nade_log_prob_follows_the_definition_and_sums_to_one():
    rng = np.random.default_rng(0)
    nade, (bv, bh) = random_nade(rng, rows=2)
    W, V = nade.W.numpy(), nade.V.numpy()
    for row in range(2):
        log_p = nade.log_prob(ALL_FRAMES, repeated((bv[row:row + 1], bh[row:row + 1]), 64)).numpy()
        assert np.exp(log_p.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-5)
        for k in (0, 5, 37, 63):
            by_hand = log_prob_by_hand(ALL_FRAMES[k], W, V, bv[row], bh[row])
            assert log_p[k] == pytest.approx(by_hand, abs=1e-4)


def test_nade_draws_follow_the_probabilities_and_carry_their_log_prob():
    rng = np.random.default_rng(1)
    nade, biases = random_nade(rng, n_visible=4, n_hidden=3)
    n = 40000
    tf.random.set_seed(3)
    v, log_p = nade.exact_sample(repeated(biases, n))
    v, log_p = v.numpy(), log_p.numpy()
    np.testing.assert_allclose(log_p, nade.log_prob(v, repeated(biases, n)), atol=1e-4)
    states = np.array(list(itertools.product([0, 1], repeat=4)), np.float32)
    exact = np.exp(nade.log_prob(states, repeated(biases, 16)).numpy())
    counts = np.bincount((v @ (2 ** np.arange(3, -1, -1))).astype(int), minlength=16) / n
    # 40000 draws: a frequency's standard deviation is at most 0.0025.
    np.testing.assert_allclose(counts, exact, atol=0.012)


def bernoulli(n_visible):
    return distributions.Bernoulli(n_visible, 3, tf.random.Generator.from_seed(0))


def test_bernoulli_log_prob_is_a_product_of_independent_units_and_sums_to_one():
    bv = np.float32([[1.5, -2.0, 0.0, 0.3, -0.7], [-1.0, 2.5, 0.2, -3.0, 1.0]])
    frames = np.array(list(itertools.product([0, 1], repeat=5)), np.float32)
    units = bernoulli(5)
    for row in bv:
        p = 1 / (1 + np.exp(-row.astype(np.float64)))
        by_hand = [np.sum(np.log(np.where(f > 0, p, 1 - p))) for f in frames]
        log_p = units.log_prob(frames, (np.tile(row, (32, 1)),)).numpy()
        np.testing.assert_allclose(log_p, by_hand, rtol=1e-5)
        assert np.exp(log_p.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-5)


def test_bernoulli_draws_follow_the_unit_probabilities():
    tf.random.set_seed(3)
    units = bernoulli(4)
    bv = np.tile(np.float32([2.0, -1.0, 0.0, -4.0]), (20000, 1))
    v, log_p = units.exact_sample((bv,))
    # Each frequency is a mean of 20000 draws: sd below 0.0036, so 0.015 is over 4 sd.
    np.testing.assert_allclose(v.numpy().mean(0), 1 / (1 + np.exp(-bv[0])), atol=0.015)
    np.testing.assert_allclose(log_p.numpy(), units.log_prob(v, (bv,)).numpy())


VARIABLES = {"rbm": {"W", "bv", "bh"}, "nade": {"W", "V", "bv", "bh"}, "bernoulli": {"bv"}}


@pytest.mark.parametrize("name", sorted(distributions.DISTRIBUTIONS))
def test_every_distribution_has_the_same_interface_and_only_its_own_variables(name):
    kind = distributions.DISTRIBUTIONS[name]
    dist = kind(6, 4, tf.random.Generator.from_seed(1))
    assert {v.name.split(":")[0] for v in dist.trainable_variables} == VARIABLES[name]
    assert tuple(b.name.split(":")[0] for b in dist.biases) == dist.bias_names
    assert dist.exact == (name != "rbm")
    rng = np.random.default_rng(2)
    for variable in dist.trainable_variables:
        variable.assign(rng.normal(0, 1, variable.shape).astype(np.float32))
    v = ALL_FRAMES[rng.permutation(64)[:10]]
    biases = tuple(rng.normal(0, 1, (10, b.shape[0])).astype(np.float32) for b in dist.biases)
    drawn = dist.sample(tf.zeros([10, 6]), biases, 3).numpy()
    assert drawn.shape == (10, 6) and set(np.unique(drawn)) <= {0.0, 1.0}
    score = dist.log_score(v, biases).numpy()
    assert score.shape == (10,) and np.all(np.isfinite(score))
    cost = float(dist.training_cost(v, biases, 2))
    if dist.exact:
        np.testing.assert_allclose(dist.log_prob(v, biases).numpy(), score)
        assert cost == pytest.approx(-score.mean(), rel=1e-6)
        exact_v, exact_log_p = dist.exact_sample(biases)
        np.testing.assert_allclose(exact_log_p, dist.log_prob(exact_v, biases), atol=1e-5)
        # all 64 frames under one row's biases: the probabilities sum to one
        total = np.exp(dist.log_prob(ALL_FRAMES, repeated(tuple(b[:1] for b in biases), 64)))
        assert float(tf.reduce_sum(total)) == pytest.approx(1.0, abs=1e-5)
    else:
        with pytest.raises(NotImplementedError):
            dist.log_prob(v, biases)
        np.testing.assert_allclose(score, -RBM.free_energy(v, dist.W, *biases).numpy())
    before = {x.name: x.numpy() for x in dist.trainable_variables}
    assert np.isfinite(float(dist.pretrain_update(tf.constant(v), 1, 0.1)))
    assert all(np.abs(x.numpy() - before[x.name]).max() > 0 for x in dist.trainable_variables)


def test_exact_pretrain_update_is_a_gradient_step_on_the_mean_negative_log_likelihood():
    # Independent units: d(mean -log p)/d bv = sigmoid(bv) - mean(v), worked out by hand.
    units = bernoulli(4)
    units.bv.assign([0.5, -1.0, 0.0, 2.0])
    v = np.float32([[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1]])
    p = 1 / (1 + np.exp(-np.float64([0.5, -1.0, 0.0, 2.0])))
    nll = -np.sum(np.log(np.where(v > 0, p, 1 - p)))
    assert float(units.pretrain_update(tf.constant(v), 1, 0.5)) == pytest.approx(nll, rel=1e-5)
    np.testing.assert_allclose(units.bv.numpy(), [0.5, -1.0, 0.0, 2.0] - 0.5 * (p - v.mean(0)),
                               rtol=1e-5)


def randomised_model(seed, hparams=NADE_HP):
    model = rnn_rbm.RnnRbm(hparams, seed=seed)
    rng = np.random.default_rng(seed)
    for var in model.trainable_variables:
        var.assign(rng.normal(0, 0.7, var.shape).astype(np.float32))
    return model


def test_rnn_nade_cost_is_the_exact_negative_log_likelihood_of_each_step_given_the_past():
    model = randomised_model(seed=2)
    rng = np.random.default_rng(5)
    v = (rng.random((2, 4, 6)) < 0.4).astype(np.float32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], np.float32)
    v[1, 2:] = 0
    p = {var.name.split(":")[0]: var.numpy().astype(np.float64)
         for var in model.trainable_variables}
    total = []
    for b, length in ((0, 4), (1, 2)):
        u = p["u0"]
        for t in range(length):  # the NADE at step t sees u_{t-1} only
            total.append(log_prob_by_hand(v[b, t], p["W"], p["V"], p["bv"] + u @ p["Wuv"],
                                          p["bh"] + u @ p["Wuh"]))
            u = np.tanh(p["bu"] + v[b, t] @ p["Wvu"] + u @ p["Wuu"])
    cost = float(model.training_cost(tf.constant(v), tf.constant(mask), k=1))
    assert cost == pytest.approx(-np.mean(total), abs=1e-4)


def test_rnn_nade_train_step_lowers_the_negative_log_likelihood():
    model = rnn_rbm.RnnRbm(NADE_HP, seed=0)
    optimizer = training.make_optimizer("adam", model.trainable_variables, 0.05)
    step = training.make_train_step(model, optimizer, k=1)
    v = np.zeros((3, 8, 6), np.float32)
    v[:, ::2, [0, 2]] = 1  # alternating chords: predictable from the previous step
    v[:, 1::2, [3, 5]] = 1
    mask = np.ones((3, 8), np.float32)
    first = float(step(v, mask))
    for _ in range(60):
        last = float(step(v, mask))
    assert first == pytest.approx(6 * np.log(2), abs=0.1)  # small weights: every unit near a coin
    assert last < 1.0


def test_rnn_nade_generation_draws_binary_frames():
    model = randomised_model(seed=6)
    songs = rnn_rbm.make_sampler(model, k=1)(tf.constant(7), tf.zeros([3, 2, 6])).numpy()
    assert songs.shape == (3, 7, 6)
    assert set(np.unique(songs)) <= {0.0, 1.0}


def test_plain_rnn_has_only_visible_biases_and_training_lowers_the_nll():
    model = rnn_rbm.RnnRbm(BERNOULLI_HP, seed=1)
    names = {x.name.split(":")[0] for x in model.trainable_variables}
    assert names == {"bv", "Wuv", "Wvu", "Wuu", "bu", "u0"}  # no W, bh or Wuh to leave unused
    assert model.distribution.exact and isinstance(model.distribution, distributions.Bernoulli)
    optimizer = training.make_optimizer("adam", model.trainable_variables, 0.05)
    step = training.make_train_step(model, optimizer, k=1)
    v = np.zeros((2, 8, 5), np.float32)
    v[:, ::2, [0, 2]] = 1  # alternating chords: predictable from the previous step
    v[:, 1::2, [3]] = 1
    mask = np.ones((2, 8), np.float32)
    first = float(step(v, mask))
    for _ in range(150):
        last = float(step(v, mask))
    assert first == pytest.approx(5 * np.log(2), abs=0.05)  # all logits near 0: every unit a coin
    assert last < 0.5
    assert float(model.training_cost(v, mask, k=1)) == pytest.approx(last, abs=0.1)
