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


# Pre-drawn noise (for chains that must share their draws, such as two computations compared)
# comes as 16-bit halves of 32-bit random words: half the random-number work, which is otherwise as
# costly as the chain's matmuls on a CPU. A Bernoulli(p) sample then has probability p rounded to a
# multiple of 2**-16 (about 1.5e-5). The compiled chain hashes its own 24-bit uniforms instead.
NOISE_BITS = 16


def uniform_noise(k, n, n_hidden, n_visible):
    """Pre-drawn U(0, 1) values for a `k`-step chain over `n` rows, at a resolution of
    2**-NOISE_BITS.

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


def visible_inputs(h, W, bv):
    """Each visible unit's total input given `h`, the logit of p(v = 1 | h): `[N, n_visible]`."""
    return tf.matmul(h, W, transpose_b=True) + bv


def visible_probs(h, W, bv):
    """p(v = 1 | h): `[N, n_visible]`."""
    return tf.sigmoid(visible_inputs(h, W, bv))


def gibbs_step(v, W, bv, bh, uniform_h, uniform_v):
    """One step v -> h -> v' of block Gibbs sampling; returns the new visible sample
    `[N, n_visible]`."""
    h = sample(hidden_probs(v, W, bh), uniform_h)
    return sample(visible_probs(h, W, bv), uniform_v)


def gibbs_chain(v, W, bv, bh, k, noise=None, seed=None):
    """Runs `k` Gibbs steps starting from `v` and returns the final visible sample.

    Args:
      v: `[N, n_visible]` starting state.
      W, bv, bh: RBM parameters (biases per row or shared, see the module docstring).
      k: number of steps (a Python int or a scalar tensor).
      noise: optional pair `(uniform_h, uniform_v)` of pre-drawn U(0, 1) tensors shaped
        `[k, N, n_hidden]` and `[k, N, n_visible]`, for computations that must share their draws
        (tests). Without it the chain makes its own draws inside one compiled kernel (see
        `fused_chain`), which is how training, pre-training and generation run.
    Returns:
      `[N, n_visible]` sample, with gradients stopped: the chain is a sampler, not part of the
      function being differentiated.
    """
    if noise is None:
        return tf.stop_gradient(fused_chain(v, W, bv, bh, k, seed))

    if isinstance(k, int):
        # A known number of steps is unrolled: no loop bookkeeping between the small ops.
        for i in range(k):
            v = gibbs_step(v, W, bv, bh, noise[0][i], noise[1][i])
        return tf.stop_gradient(v)

    def step(i, x):
        return i + 1, gibbs_step(x, W, bv, bh, noise[0][i], noise[1][i])

    _, v_k = tf.while_loop(lambda i, _: i < k, step, (tf.constant(0), v))
    return tf.stop_gradient(v_k)


def stateless_gibbs_chain(v, W, bv, bh, num_steps, seed):
    """`num_steps` Gibbs steps from `v` whose draws are a pure function of `seed`.

    Step i draws its hidden units with `stateless_fold_in(seed, 2 i)` and its visible units with
    `2 i + 1`, so chains over the same rows and seed repeat exactly, whatever ran before.
    Args:
      v: `[N, n_visible]` start; W, bv, bh: as `gibbs_chain`; num_steps: scalar int;
      seed: `[2]` int32.
    Returns:
      `(v [N, n_visible], probs [N, n_visible])`: the last sample and p(v | h) of the last hidden
      sample (zeros after 0 steps).
    """
    fold = tf.random.experimental.stateless_fold_in

    def step(i, v, _):
        probs_h = hidden_probs(v, W, bh)
        h = sample(probs_h, uniform(tf.shape(probs_h), fold(seed, 2 * i)))
        probs = visible_probs(h, W, bv)
        return i + 1, sample(probs, uniform(tf.shape(probs), fold(seed, 2 * i + 1))), probs

    _, v, probs = tf.while_loop(lambda i, *_: i < num_steps, step,
                                (tf.constant(0), v, tf.zeros_like(v)))
    return v, probs


# ---------------------------------------------------------------------------------------------
# The compiled chain. On a CPU the chain's cost is not its matmuls: drawing the random numbers
# with TensorFlow's generators and the separate sigmoid, compare and cast kernels over every unit
# cost as much again. Compiled with XLA, each step's elementwise work is one pass, and the
# uniforms come from an integer hash of a counter computed in that same pass, so they never
# touch memory. XLA compiles once per shape, so the number of rows is padded up to one of a few
# sizes (at most 1/8 more rows).
# ---------------------------------------------------------------------------------------------


def _mix32(x):
    """An invertible avalanche of 32-bit words (xor-shift / multiply rounds; constants from
    C. Wellons' hash-prospector search, "lowbias32")."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))
    x = x * tf.constant(0x7FEB352D, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(15, tf.uint32)))
    x = x * tf.constant(0x846CA68B, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))


def hashed_uniform(shape, key, counter_start):
    """U(0, 1) values at a resolution of 2**-24: a pure function of `key` and the counters.

    Element j of the result hashes the counter `counter_start + j` twice, with the two words of
    `key` mixed in between, so streams of different keys share no shifted copies.
    Args:
      shape: `[rows, units]`; key: `[2]` uint32; counter_start: uint32 scalar.
    """
    counter = tf.reshape(tf.range(shape[0] * shape[1]), shape)
    x = _mix32(tf.cast(counter, tf.uint32) + counter_start + key[0])
    x = _mix32(tf.bitwise.bitwise_xor(x, key[1]))
    top24 = tf.cast(tf.bitwise.right_shift(x, tf.constant(8, tf.uint32)), tf.float32)
    return (top24 + 0.5) * 2.0 ** -24


@tf.function(jit_compile=True)
def _compiled_chain(v, W, bv, bh, k, key):
    rows, n_visible, n_hidden = tf.shape(v)[0], W.shape[0], W.shape[1]
    per_step = tf.cast(rows * (n_visible + n_hidden), tf.uint32)

    def step(i, v):
        start = tf.cast(i, tf.uint32) * per_step
        h = sample(hidden_probs(v, W, bh), hashed_uniform([rows, n_hidden], key, start))
        start += tf.cast(rows * n_hidden, tf.uint32)
        return sample(visible_probs(h, W, bv), hashed_uniform([rows, n_visible], key, start))

    # A loop rather than unrolled steps: XLA compiles 25 unrolled steps in about 10 s, the loop in
    # about 1 s, and runs both equally fast.
    # ensure_shape: with one row, broadcasting against the hashed noise's unknown row count
    # would leave the loop variable's row count unknown, which a while_loop refuses.
    _, v = tf.while_loop(lambda i, _: i < k,
                         lambda i, x: (i + 1, tf.ensure_shape(step(i, x), x.shape)),
                         (tf.constant(0), v))
    return v


def padded_rows(n):
    """The row count a chain over `n` rows is padded to: `n` rounded up to a multiple of the
    power of two at most n / 8, so there are 8 sizes per doubling and at most 1/8 padding."""
    n = tf.maximum(tf.cast(n, tf.int32), 1)
    log2 = tf.cast(tf.math.floor(tf.math.log(tf.cast(n, tf.float32)) / np.log(2.0)), tf.int32)
    grain = tf.bitwise.left_shift(1, tf.maximum(log2 - 3, 0))
    return (n + grain - 1) // grain * grain


def fused_chain(v, W, bv, bh, k, seed=None):
    """`gibbs_chain` without pre-drawn noise: one XLA kernel per step, uniforms hashed in place.

    The hash's key is `seed` (`[2]` int64) when given, else drawn from TensorFlow's global
    generator, so runs repeat under `tf.random.set_seed`. Inside a loop, pass a seed derived from
    the iteration (`stateless_fold_in`): a loop may run the draws of neighbouring iterations out
    of order, which a global-generator draw would make depend on timing.
    """
    if seed is None:
        seed = tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64)
    key = tf.cast(tf.bitwise.bitwise_and(tf.cast(seed, tf.int64), 0xFFFFFFFF), tf.uint32)
    v, W, bv, bh = (tf.convert_to_tensor(x, tf.float32) for x in (v, W, bv, bh))
    n = tf.shape(v)[0]
    pad = padded_rows(n) - n

    def rows_padded(x):
        return tf.pad(x, [[0, pad], [0, 0]]) if x.shape.rank == 2 else x

    k = tf.convert_to_tensor(k, tf.int32)
    out = _compiled_chain(rows_padded(v), W, rows_padded(bv), rows_padded(bh), k, key)
    return out[:n]


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


def cd_update(v, W, bv, bh, k=1, lr=0.01, seed=None):
    """CD-k parameter increments for a plain RBM, averaged over the rows of `v`.

    The hidden statistics use p(h | v) rather than a sampled h, which has the same expectation and
    less noise (the original code used samples).

    Args:
      v: `[N, n_visible]` batch of data.
      W, bv, bh: parameters, biases as vectors.
      k: Gibbs steps of the negative phase.
      lr: learning rate the increments are scaled by.
      seed: optional `[2]` int64 naming the chain's draws (see `fused_chain`).
    Returns:
      `(dW, dbv, dbh)`, to be added to `W`, `bv`, `bh`.
    """
    v_neg = gibbs_chain(v, W, bv, bh, k, seed=seed)
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


def uniform(shape, seed=None):
    """U(0, 1) draws from the global generator, or a pure function of `seed` (`[2]` int)."""
    if seed is None:
        return tf.random.uniform(shape)
    return tf.random.stateless_uniform(shape, seed)


class RBM(tf.Module):
    """A binary RBM with weights `W [n_visible, n_hidden]` and biases `bv`, `bh`.

    On its own it is Part 1's model of short snippets; in the RNN-RBM it is the distribution of
    each time step, whose biases the RNN moves. Every method takes the biases as a tuple
    `(bv, bh)`, either these vectors (`self.biases`) or one row per frame
    (`[N, n_visible]`, `[N, n_hidden]`).
    """

    bias_names = ("bv", "bh")
    exact = False  # log p(v) needs log Z, which only an estimator gives (`evaluation.py`)

    def __init__(self, n_visible, n_hidden, rng, name="rbm"):
        super().__init__(name=name)
        # W ~ N(0, 0.01) as in the Theano tutorial; the original passed 0.01 as the mean.
        self.W = tf.Variable(rng.normal([n_visible, n_hidden], stddev=0.01), name="W")
        self.bv = tf.Variable(tf.zeros([n_visible]), name="bv")
        self.bh = tf.Variable(tf.zeros([n_hidden]), name="bh")

    @property
    def biases(self):
        return (self.bv, self.bh)

    def training_cost(self, v, biases, k, noise=None, from_silence=False, seed=None):
        """CD-k: mean of F(v) - F(v*) over the rows of `v`, v* from a `k`-step chain from `v`, or
        with `from_silence` from all-zero rows: the chain the sampler runs, so that training
        shapes what a `k`-step chain from silence reaches. `seed` (`[2]` int64, optional) names
        the chain's draws (see `fused_chain`)."""
        bv, bh = biases
        start = tf.zeros_like(v) if from_silence else v
        negative = gibbs_chain(start, self.W, bv, bh, k, noise, seed)
        return free_energy_cost(v, negative, self.W, bv, bh)

    def sample(self, start, biases, k, temperature=1.0, seed=None):
        """One draw per row: the end of a `k`-step Gibbs chain from `start`.

        `temperature` (a Python float in [0, 1]) is that of the chain's last visible step, taken
        given the last hidden sample. At 1 that step is p(v | h), a plain Gibbs step. At 0 it is
        the most probable state, `p(v | h) > 0.5`: a unit the hidden state does not make likely
        stays off, instead of sounding by chance one time in 20 or 50, which over hundreds of
        units gives a few stray notes in every vector. In between, only the unlikely units are
        tempered: a unit whose input a is below 0 (p < 1/2) sounds with probability
        sigmoid(a / T), p^(1/T) / (p^(1/T) + (1 - p)^(1/T)) (p = 0.05 at T = 0.4 gives 0.0006),
        and a likely one with its own p. Sharpening the likely units too (at T = 0.5) would
        continue a held note of p = 0.85 with 0.97, so that it lasts 20 more beats about half the
        time (0.97^20) instead of one time in 25 (0.85^20): the drones of a model trained on
        string quartets.
        `seed` (`[2]` int64, optional) makes the draws a function of it (see `fused_chain`).
        """
        bv, bh = biases
        if temperature == 1:
            return gibbs_chain(start, self.W, bv, bh, k, seed=seed)
        v = gibbs_chain(start, self.W, bv, bh, k - 1, seed=seed)
        probs_h = hidden_probs(v, self.W, bh)
        fold = tf.random.experimental.stateless_fold_in
        h = sample(probs_h, uniform(tf.shape(probs_h), None if seed is None else fold(seed, -1)))
        inputs = visible_inputs(h, self.W, bv)
        if temperature == 0:  # p(v | h) > 0.5
            return tf.cast(inputs > 0, tf.float32)
        return sample(tf.sigmoid(tf.minimum(inputs, inputs / temperature)),
                      uniform(tf.shape(inputs), None if seed is None else fold(seed, -2)))

    def log_score(self, v, biases):
        """-F(v) of each row: log p(v) up to the row's log Z."""
        return -free_energy(v, self.W, *biases)

    def log_prob(self, v, biases):
        raise NotImplementedError("an RBM's log p(v) needs its partition function; estimate it "
                                  "with evaluation.log_likelihoods")

    def pretrain_update(self, v, k, lr, seed=None):
        """One CD-k update of W, bv, bh on the rows of `v` with step `lr`; returns their summed
        squared reconstruction error of p(v | h(v)), a progress signal rather than the objective."""
        for variable, delta in zip((self.W, self.bv, self.bh),
                                   cd_update(v, self.W, self.bv, self.bh, k, lr, seed)):
            variable.assign_add(delta)
        recon = visible_probs(hidden_probs(v, self.W, self.bh), self.W, self.bv)
        return tf.reduce_sum(tf.square(v - recon))
