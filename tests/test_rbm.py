"""RBM building blocks against computations done by hand in numpy."""
import itertools

import numpy as np
import pytest
import tensorflow as tf

import RBM


def numpy_free_energy(v, W, bv, bh):
    return -(v * bv).sum(1) - np.logaddexp(0.0, v @ W + bh).sum(1)


def test_free_energy_matches_numpy_with_per_row_biases():
    rng = np.random.default_rng(0)
    v = (rng.random((5, 7)) < 0.4).astype(np.float32)
    W = rng.normal(0, 0.5, (7, 3)).astype(np.float32)
    bv = rng.normal(0, 1, (5, 7)).astype(np.float32)
    bh = rng.normal(0, 1, (5, 3)).astype(np.float32)
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
    assert abs(np.corrcoef(u, other)[0, 1]) < 0.01 and abs(np.corrcoef(u[1:], shifted[:-1])[0, 1]) > 0.99
    assert abs(np.corrcoef(u, shifted)[0, 1]) < 0.01


@pytest.mark.parametrize("n, padded", [(1, 1), (10, 10), (15, 15), (16, 16), (17, 18), (100, 104),
                                       (3500, 3584), (4096, 4096), (4097, 4608)])
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
