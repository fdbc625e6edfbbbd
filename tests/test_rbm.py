"""RBM building blocks and the `RBM.RBM` module against computations done by hand in numpy."""
import itertools

import numpy as np
import pytest
import tensorflow as tf

import RBM


def random_rbm(rng, rows, n_visible, n_hidden, on, w_scale):
    """0/1 rows `v` (each unit on with probability `on`), W ~ N(0, w_scale) and per-row biases
    ~ N(0, 1), as float32 numpy arrays `(v, W, bv, bh)`."""
    v = (rng.random((rows, n_visible)) < on).astype(np.float32)
    W = rng.normal(0, w_scale, (n_visible, n_hidden)).astype(np.float32)
    bv = rng.normal(0, 1, (rows, n_visible)).astype(np.float32)
    bh = rng.normal(0, 1, (rows, n_hidden)).astype(np.float32)
    return v, W, bv, bh


def numpy_free_energy(v, W, bv, bh):
    return -(v * bv).sum(1) - np.logaddexp(0.0, v @ W + bh).sum(1)


def test_free_energy_matches_numpy_with_per_row_biases():
    v, W, bv, bh = random_rbm(np.random.default_rng(0), 5, 7, 3, on=0.4, w_scale=0.5)
    got = RBM.free_energy(v, W, bv, bh).numpy()
    np.testing.assert_allclose(got, numpy_free_energy(v, W, bv, bh), rtol=1e-5)
    # Row i is scored against its own biases only: permuting the other rows' biases changes nothing.
    bv2 = bv.copy()
    bv2[1:] = bv[1:][::-1]
    assert np.isclose(RBM.free_energy(v[:1], W, bv2[:1], bh[:1]).numpy()[0], got[0])


def test_free_energy_by_hand_on_one_row():
    v = np.array([[1.0, 0.0]], np.float32)
    W = np.array([[1.0, -2.0], [0.5, 0.0]], np.float32)
    bv = np.array([0.3, -0.1], np.float32)
    bh = np.array([0.0, 1.0], np.float32)
    # -(0.3) - softplus(1.0 + 0.0) - softplus(-2.0 + 1.0)
    expected = -0.3 - np.log1p(np.e) - np.log1p(np.exp(-1.0))
    assert np.isclose(RBM.free_energy(v, W, bv, bh).numpy()[0], expected, atol=1e-6)


def test_weighted_free_energy_cost_ignores_zero_weight_rows():
    rng = np.random.default_rng(1)
    v = (rng.random((4, 6)) < 0.5).astype(np.float32)
    v_neg = (rng.random((4, 6)) < 0.5).astype(np.float32)
    W = rng.normal(0, 0.3, (6, 3)).astype(np.float32)
    bv, bh = np.zeros(6, np.float32), np.zeros(3, np.float32)
    weights = np.array([1, 1, 0, 0], np.float32)
    full = RBM.free_energy_cost(v[:2], v_neg[:2], W, bv, bh).numpy()
    weighted = RBM.free_energy_cost(v, v_neg, W, bv, bh, weights).numpy()
    assert np.isclose(full, weighted, atol=1e-6)
    by_hand = np.mean(numpy_free_energy(v[:2], W, bv, bh) - numpy_free_energy(v_neg[:2], W, bv, bh))
    assert np.isclose(full, by_hand, atol=1e-5)


def test_gibbs_chain_with_given_noise_follows_the_conditionals():
    rng = np.random.default_rng(2)
    v = (rng.random((3, 5)) < 0.5).astype(np.float32)
    W = rng.normal(0, 1, (5, 4)).astype(np.float32)
    bv, bh = rng.normal(0, 1, 5).astype(np.float32), rng.normal(0, 1, 4).astype(np.float32)
    uh, uv = rng.random((2, 3, 4)).astype(np.float32), rng.random((2, 3, 5)).astype(np.float32)
    x = v
    for i in range(2):
        h = (uh[i] < 1 / (1 + np.exp(-(x @ W + bh)))).astype(np.float32)
        x = (uv[i] < 1 / (1 + np.exp(-(h @ W.T + bv)))).astype(np.float32)
    got = RBM.gibbs_chain(tf.constant(v), W, bv, bh, 2, noise=(uh, uv)).numpy()
    np.testing.assert_array_equal(got, x)


def test_exact_log_partition_equals_brute_force_over_both_layers():
    rng = np.random.default_rng(3)
    W, bv, bh = rng.normal(0, 1, (3, 2)), rng.normal(0, 1, 3), rng.normal(0, 1, 2)
    total = 0.0
    for v in itertools.product([0, 1], repeat=3):
        for h in itertools.product([0, 1], repeat=2):
            v_, h_ = np.array(v), np.array(h)
            total += np.exp(v_ @ bv + h_ @ bh + v_ @ W @ h_)
    assert np.isclose(RBM.exact_log_partition(W, bv, bh), np.log(total), atol=1e-10)


def exact_mean_log_likelihood(data, W, bv, bh):
    return float(np.mean(-numpy_free_energy(data, W, bv, bh)) - RBM.exact_log_partition(W, bv, bh))


def test_cd1_raises_the_exact_log_likelihood():
    tf.random.set_seed(4)
    rng = np.random.default_rng(4)
    patterns = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], np.float32)
    data = patterns[rng.integers(3, size=60)]
    W = tf.Variable(rng.normal(0, 0.01, (6, 4)).astype(np.float32))
    bv, bh = tf.Variable(tf.zeros(6)), tf.Variable(tf.zeros(4))
    before = exact_mean_log_likelihood(data, W.numpy(), bv.numpy(), bh.numpy())
    step = tf.function(lambda v: RBM.cd_update(v, W, bv, bh, k=1, lr=1.0))
    for _ in range(500):
        for var, delta in zip((W, bv, bh), step(tf.constant(data))):
            var.assign_add(delta)
    after = exact_mean_log_likelihood(data, W.numpy(), bv.numpy(), bh.numpy())
    assert before < -4.0  # near uniform over 64 states: -6 ln 2 = -4.16
    assert after > before + 1.5
    assert after > -2.5   # the best possible is ln(1/3) = -1.10


def test_hashed_uniforms_are_uniform_and_independent_of_neighbours():
    key = tf.constant([12345, 678], tf.uint32)
    u = RBM.hashed_uniform([1000, 200], key, tf.constant(0, tf.uint32)).numpy().ravel()
    assert 0.0 < u.min() and u.max() < 1.0
    # 200,000 draws: every tenth of [0, 1) holds 20,000 +- 4 standard errors (about 540).
    counts = np.histogram(u, bins=10, range=(0.0, 1.0))[0]
    assert np.all(np.abs(counts - 20000) < 4 * np.sqrt(20000 * 0.9)), counts
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01       # consecutive counters
    assert abs(np.corrcoef(u[:-200], u[200:])[0, 1]) < 0.01   # the same unit in the next row
    # Keys one apart, and a counter start one further on, give unrelated streams.
    other = RBM.hashed_uniform([1000, 200], key + [1, 0], tf.constant(0, tf.uint32)).numpy().ravel()
    shifted = RBM.hashed_uniform([1000, 200], key, tf.constant(1, tf.uint32)).numpy().ravel()
    assert abs(np.corrcoef(u, other)[0, 1]) < 0.01
    assert abs(np.corrcoef(u[1:], shifted[:-1])[0, 1]) > 0.99
    assert abs(np.corrcoef(u, shifted)[0, 1]) < 0.01


@pytest.mark.parametrize("n, padded", [(1, 1), (10, 10), (15, 15), (16, 16), (17, 18),
                                       (100, 104), (3500, 3584), (4096, 4096), (4097, 4608)])
def test_chain_rows_are_padded_by_at_most_an_eighth(n, padded):
    assert int(RBM.padded_rows(n)) == padded


def test_compiled_chain_samples_the_rbm_distribution():
    # A 6-visible, 4-hidden RBM: p(v) is known exactly by enumeration. 20,000 chains of 20 steps
    # from silence, in one call, must give every state's frequency within 4 standard errors.
    rng = np.random.default_rng(5)
    W = rng.normal(0.0, 1.0, (6, 4)).astype(np.float32)
    bv, bh = rng.normal(-0.5, 1.0, 6).astype(np.float32), rng.normal(0.0, 1.0, 4).astype(np.float32)
    states = np.array(list(itertools.product([0.0, 1.0], repeat=6)), np.float32)
    log_p = -numpy_free_energy(states, W, bv, bh)
    p = np.exp(log_p - np.logaddexp.reduce(log_p))
    tf.random.set_seed(0)
    v = RBM.gibbs_chain(tf.zeros([20000, 6]), W, bv, bh, 20).numpy()
    assert set(np.unique(v)) <= {0.0, 1.0}
    index = (v @ (2.0 ** np.arange(5, -1, -1))).astype(int)   # row of `states` each sample is
    frequency = np.bincount(index, minlength=64) / len(v)
    assert np.all(np.abs(frequency - p) < 4 * np.sqrt(p * (1 - p) / len(v)) + 1e-4)
    # Per-row biases, padded rows and a step count known only at run time take the same path.
    bv_rows = np.tile(bv, (37, 1))
    again = RBM.gibbs_chain(tf.zeros([37, 6]), W, bv_rows, bh, tf.constant(3)).numpy()
    assert again.shape == (37, 6) and set(np.unique(again)) <= {0.0, 1.0}


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


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_stateless_chain_follows_the_conditionals_with_draws_named_by_its_seed():
    rng = np.random.default_rng(6)
    v, W, bv, bh = random_rbm(rng, 4, 5, 3, on=0.5, w_scale=1.0)
    seed = tf.constant([7, 11], tf.int32)
    fold = tf.random.experimental.stateless_fold_in
    x = v
    for i in range(3):  # step i: hidden draws from fold_in(seed, 2 i), visible from 2 i + 1
        uh = tf.random.stateless_uniform([4, 3], fold(seed, 2 * i)).numpy()
        h = (uh < sigmoid(x @ W + bh)).astype(np.float32)
        probs = sigmoid(h @ W.T + bv)
        x = (tf.random.stateless_uniform([4, 5], fold(seed, 2 * i + 1)).numpy() < probs)
        x = x.astype(np.float32)
    got, got_probs = RBM.stateless_gibbs_chain(v, W, bv, bh, 3, seed)
    np.testing.assert_array_equal(got.numpy(), x)
    np.testing.assert_allclose(got_probs.numpy(), probs, rtol=1e-5, atol=1e-6)
    again, _ = RBM.stateless_gibbs_chain(v, W, bv, bh, 3, seed)
    np.testing.assert_array_equal(again.numpy(), x)  # the same seed, the same chain
    start, zeros = RBM.stateless_gibbs_chain(v, W, bv, bh, 0, seed)
    np.testing.assert_array_equal(start.numpy(), v)
    assert not zeros.numpy().any()


def small_rbm(seed=8):
    """An `RBM.RBM` with 6 visible and 4 hidden units and O(1) parameters."""
    rbm = RBM.RBM(6, 4, tf.random.Generator.from_seed(seed))
    rng = np.random.default_rng(seed)
    for variable in (rbm.W, rbm.bv, rbm.bh):
        variable.assign(rng.normal(0, 1, variable.shape).astype(np.float32))
    return rbm


def test_rbm_module_holds_its_parameters_and_scores_with_given_biases():
    rbm = RBM.RBM(6, 4, tf.random.Generator.from_seed(0))
    assert rbm.W.shape == (6, 4) and rbm.bv.shape == (6,) and rbm.bh.shape == (4,)
    assert 0.005 < float(tf.math.reduce_std(rbm.W)) < 0.02  # N(0, 0.01)
    assert rbm.bias_names == ("bv", "bh") and not rbm.exact
    assert [b.name for b in rbm.biases] == ["bv:0", "bh:0"]
    assert {v.name for v in rbm.trainable_variables} == {"W:0", "bv:0", "bh:0"}

    rbm = small_rbm()
    rng = np.random.default_rng(9)
    v = (rng.random((3, 6)) < 0.5).astype(np.float32)
    bv = rng.normal(0, 1, (3, 6)).astype(np.float32)
    bh = rng.normal(0, 1, (3, 4)).astype(np.float32)
    W = rbm.W.numpy()
    np.testing.assert_allclose(rbm.log_score(v, (bv, bh)).numpy(), -numpy_free_energy(v, W, bv, bh),
                               rtol=1e-5)
    np.testing.assert_allclose(rbm.log_score(v, rbm.biases).numpy(),
                               -numpy_free_energy(v, W, rbm.bv.numpy(), rbm.bh.numpy()), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="partition function"):
        rbm.log_prob(v, (bv, bh))

    noise = (rng.random((2, 3, 4)).astype(np.float32), rng.random((2, 3, 6)).astype(np.float32))
    negative = RBM.gibbs_chain(tf.constant(v), W, bv, bh, 2, noise).numpy()
    by_hand = np.mean(numpy_free_energy(v, W, bv, bh) - numpy_free_energy(negative, W, bv, bh))
    assert float(rbm.training_cost(v, (bv, bh), 2, noise)) == pytest.approx(by_hand, abs=1e-5)
    drawn = rbm.sample(tf.zeros([5, 6]), (np.tile(bv[:1], (5, 1)), np.tile(bh[:1], (5, 1))), 3)
    assert drawn.shape == (5, 6) and set(np.unique(drawn.numpy())) <= {0.0, 1.0}


def test_pretrain_update_is_one_cd_step_and_returns_the_reconstruction_error():
    rbm = small_rbm()
    before = [x.numpy() for x in (rbm.W, rbm.bv, rbm.bh)]
    v = tf.constant((np.random.default_rng(10).random((7, 6)) < 0.5).astype(np.float32))
    tf.random.set_seed(11)
    deltas = [d.numpy() for d in RBM.cd_update(v, rbm.W, rbm.bv, rbm.bh, 2, 0.1)]
    tf.random.set_seed(11)  # the same chain
    error = float(rbm.pretrain_update(v, 2, 0.1))
    for variable, start, delta in zip((rbm.W, rbm.bv, rbm.bh), before, deltas):
        assert np.abs(delta).max() > 1e-4
        np.testing.assert_allclose(variable.numpy(), start + delta, rtol=1e-5, atol=1e-6)
    W, bv, bh = (x.numpy() for x in (rbm.W, rbm.bv, rbm.bh))  # measured after the step
    recon = sigmoid(sigmoid(v.numpy() @ W + bh) @ W.T + bv)
    assert error == pytest.approx(np.sum((v.numpy() - recon) ** 2), rel=1e-5)


def test_compiled_chain_runs_on_a_single_row_outside_a_tf_function():
    W = tf.constant(np.random.default_rng(0).normal(0, 0.1, (6, 4)), tf.float32)
    v = RBM.fused_chain(tf.zeros([1, 6]), W, tf.zeros([6]), tf.zeros([4]), 3).numpy()
    assert v.shape == (1, 6) and set(np.unique(v)) <= {0.0, 1.0}
