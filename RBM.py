"""Restricted Boltzmann machine building blocks, shared by pre-training and the RNN-RBM.

Every function takes the parameters explicitly so that the same code serves two cases:

* a plain RBM, whose biases are vectors (`bv` is `[n_visible]`, `bh` is `[n_hidden]`), and
* the conditional RBMs of the RNN-RBM, whose biases differ per row (`bv` is `[N, n_visible]`,
  `bh` is `[N, n_hidden]`): row i of `v` is scored and sampled against row i of the biases.

Shapes: `v` is `[N, n_visible]`, `W` is `[n_visible, n_hidden]`. Visible and hidden units are
binary; samples are float tensors of 0s and 1s.
"""
import itertools

import numpy as np
import tensorflow as tf


def sample(probs, uniform):
    """Bernoulli draws with the given probabilities.

    Args:
      probs: any-shape tensor of probabilities.
      uniform: U(0, 1) draws of the same shape (see `uniform_noise`); passing them in makes the
        sample a pure function of its inputs, so two computations can share the same draws.
    Returns:
      A float tensor of 0s and 1s, shaped like `probs`.
    """
    return tf.cast(uniform < probs, probs.dtype)


# Chains draw their randomness as 16-bit halves of 32-bit random words: half the random-number
# work, which is otherwise as costly as the chain's matmuls on a CPU. A Bernoulli(p) sample then
# has probability p rounded to a multiple of 2**-16 (about 1.5e-5).
NOISE_BITS = 16


def uniform_noise(k, n, n_hidden, n_visible):
    """Pre-drawn U(0, 1) values for a `k`-step chain over `n` rows, at a resolution of 2**-NOISE_BITS.

    Each value is (j + 1/2) / 2**16 for a uniformly drawn 16-bit j, so it is never 0 or 1 and
    `u < p` holds with probability p to within 2**-17.
    Returns:
      `(uniform_h [k, n, n_hidden], uniform_v [k, n, n_visible])`, float32.
    """
    seed = tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64)  # follows tf.random.set_seed

    def halves(units, seed):
        words = tf.random.stateless_uniform([k, n, (units + 1) // 2], seed, minval=None,
                                            maxval=None, dtype=tf.uint32)
        pairs = tf.bitcast(words, tf.uint16)  # [k, n, words, 2]: a reinterpretation, no copy
        values = tf.reshape(pairs, [k, n, -1])[:, :, :units]
        return (tf.cast(values, tf.float32) + 0.5) * 2.0 ** -NOISE_BITS

    return halves(n_hidden, seed), halves(n_visible, seed + 1)


def hidden_probs(v, W, bh):
    """p(h = 1 | v): `[N, n_hidden]`."""
    return tf.sigmoid(tf.matmul(v, W) + bh)


def visible_probs(h, W, bv):
    """p(v = 1 | h): `[N, n_visible]`."""
    return tf.sigmoid(tf.matmul(h, W, transpose_b=True) + bv)


def gibbs_step(v, W, bv, bh, uniform_h, uniform_v):
    """One step v -> h -> v' of block Gibbs sampling; returns the new visible sample `[N, n_visible]`."""
    h = sample(hidden_probs(v, W, bh), uniform_h)
    return sample(visible_probs(h, W, bv), uniform_v)


def gibbs_chain(v, W, bv, bh, k, noise=None):
    """Runs `k` Gibbs steps starting from `v` and returns the final visible sample.

    Args:
      v: `[N, n_visible]` starting state.
      W, bv, bh: RBM parameters (biases per row or shared, see the module docstring).
      k: number of steps (a Python int or a scalar tensor).
      noise: optional pair `(uniform_h, uniform_v)` of pre-drawn U(0, 1) tensors shaped
        `[k, N, n_hidden]` and `[k, N, n_visible]`; without it the chain draws its own with
        `uniform_noise`.
    Returns:
      `[N, n_visible]` sample, with gradients stopped: the chain is a sampler, not part of the
      function being differentiated.
    """
    if noise is None:
        # One draw for the whole chain instead of two per step: fewer, larger random ops.
        noise = uniform_noise(k, tf.shape(v)[0], W.shape[1], W.shape[0])

    if isinstance(k, int):
        # A known number of steps is unrolled: no loop bookkeeping between the small ops.
        for i in range(k):
            v = gibbs_step(v, W, bv, bh, noise[0][i], noise[1][i])
        return tf.stop_gradient(v)

    def step(i, x):
        return i + 1, gibbs_step(x, W, bv, bh, noise[0][i], noise[1][i])

    _, v_k = tf.while_loop(lambda i, _: i < k, step, (tf.constant(0), v))
    return tf.stop_gradient(v_k)


def free_energy(v, W, bv, bh):
    """Free energy of each row, F(v) = -v.bv - sum_j softplus((v W + bh)_j).

    The visible term is a row-wise dot product, so row i is scored only against its own bias
    (the original code used `v @ transpose(bv)`, which with per-row biases gives an [N, N] matrix).

    Returns:
      `[N]` free energies.
    """
    visible_term = tf.reduce_sum(v * bv, axis=-1)
    hidden_term = tf.reduce_sum(tf.nn.softplus(tf.matmul(v, W) + bh), axis=-1)
    return -visible_term - hidden_term


def free_energy_cost(v, v_sample, W, bv, bh, weights=None):
    """Mean of F(v) - F(v_sample): its gradient is the CD estimate of -d log p(v).

    Args:
      v: `[N, n_visible]` data.
      v_sample: `[N, n_visible]` negative samples (e.g. from `gibbs_chain`), treated as constants.
      weights: optional `[N]` row weights (e.g. a padding mask); the mean is weighted by them.
    Returns:
      A scalar.
    """
    diff = free_energy(v, W, bv, bh) - free_energy(tf.stop_gradient(v_sample), W, bv, bh)
    if weights is None:
        return tf.reduce_mean(diff)
    return tf.reduce_sum(diff * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def cd_update(v, W, bv, bh, k=1, lr=0.01):
    """CD-k parameter increments for a plain RBM, averaged over the rows of `v`.

    The hidden statistics use p(h | v) rather than a sampled h, which has the same expectation and
    less noise (the original code used samples).

    Args:
      v: `[N, n_visible]` batch of data.
      W, bv, bh: parameters, biases as vectors.
      k: Gibbs steps of the negative phase.
      lr: learning rate the increments are scaled by.
    Returns:
      `(dW, dbv, dbh)`, to be added to `W`, `bv`, `bh`.
    """
    v_neg = gibbs_chain(v, W, bv, bh, k)
    h_pos = hidden_probs(v, W, bh)
    h_neg = hidden_probs(v_neg, W, bh)
    scale = lr / tf.cast(tf.shape(v)[0], v.dtype)
    dW = scale * (tf.matmul(v, h_pos, transpose_a=True) - tf.matmul(v_neg, h_neg, transpose_a=True))
    dbv = scale * tf.reduce_sum(v - v_neg, axis=0)
    dbh = scale * tf.reduce_sum(h_pos - h_neg, axis=0)
    return dW, dbv, dbh


def exact_log_partition(W, bv, bh):
    """log Z of a small RBM, by summing over every configuration of its hidden units.

    With h fixed the visible units are independent, so
    log Z = logsumexp_h [h.bh + sum_i softplus(bv_i + (W h)_i)]. Costs 2**n_hidden rows: use for
    n_hidden up to about 20 (tests and checks of the AIS estimator).

    Args:
      W: `[n_visible, n_hidden]` numpy or tensor; bv: `[n_visible]`; bh: `[n_hidden]`.
    Returns:
      log Z as a Python float (computed in float64).
    """
    W, bv, bh = (np.asarray(x, dtype=np.float64) for x in (W, bv, bh))
    hs = np.array(list(itertools.product([0.0, 1.0], repeat=W.shape[1])))  # [2**H, H]
    scores = hs @ bh + np.logaddexp(0.0, hs @ W.T + bv).sum(axis=1)
    top = scores.max()
    return float(top + np.log(np.exp(scores - top).sum()))
