"""The distributions a time step of the RNN can drive, all with `RBM.RBM`'s interface.

Each is a `tf.Module` holding only its own variables, with the same methods: `biases` (the
unconditioned bias vectors, named in `bias_names`), `training_cost`, `sample`, `log_score`,
`log_prob` (exact where `exact` is True; an RBM refuses) and `pretrain_update`. Biases come as a
tuple in the order of `bias_names`, as vectors or with one row per frame; the RNN adds
`u_{t-1} Wu<name>` to each.

* `RBM.RBM`: the RNN-RBM (Boulanger-Lewandowski et al., 2012), trained by CD-k.
* `NADE`: the paper's RNN-NADE (Larochelle & Murray 2011), exact, trained on log p itself.
* `Bernoulli`: independent units, the paper's plain RNN baseline, exact.
"""
import numpy as np
import tensorflow as tf

import RBM


class _Exact(tf.Module):
    """What a distribution with an exact `log_prob` and `exact_sample` derives from them."""

    exact = True

    def training_cost(self, v, biases, k=None, noise=None, from_silence=False, seed=None):
        """Mean over the rows of -log p(v), in nats (`k`, `noise`, `from_silence` and `seed` are
        the RBM's; unused)."""
        return -tf.reduce_mean(self.log_prob(v, biases))

    def sample(self, start, biases, k=None, temperature=1.0, seed=None):
        """One exact draw per row (`start`, `k` and `temperature` are the RBM's chain's; unused);
        with `seed` (`[2]` int64) the draw is a pure function of it."""
        return self.exact_sample(biases, seed)[0]

    def log_score(self, v, biases):
        return self.log_prob(v, biases)

    def pretrain_update(self, v, k, lr, seed=None):
        """One gradient step of size `lr` on the mean -log p of the rows of `v` under the shared
        biases; returns their summed -log p in nats, measured before the step (`k`, `seed`
        unused)."""
        rows = tf.shape(v)[0]
        with tf.GradientTape() as tape:
            nll = -self.log_prob(v, tuple(tf.tile(b[tf.newaxis], [rows, 1]) for b in self.biases))
            cost = tf.reduce_mean(nll)
        for variable, grad in zip(self.trainable_variables,
                                  tape.gradient(cost, self.trainable_variables)):
            variable.assign_sub(lr * grad)
        return tf.reduce_sum(nll)


class NADE(_Exact):
    """A NADE: unit i of v is Bernoulli given the units before it,

        a_i = bh + sum_{j<i} v_j W_j        p(v_i = 1 | v_<i) = sigmoid(bv_i + sigmoid(a_i) . V_i)

    with input weights `W` and output weights `V`, both `[n_visible, n_hidden]`.
    """

    bias_names = ("bv", "bh")

    def __init__(self, n_visible, n_hidden, rng, name="nade"):
        super().__init__(name=name)
        self.W = tf.Variable(rng.normal([n_visible, n_hidden], stddev=0.01), name="W")
        self.bv = tf.Variable(tf.zeros([n_visible]), name="bv")
        self.bh = tf.Variable(tf.zeros([n_hidden]), name="bh")
        self.V = tf.Variable(rng.normal([n_visible, n_hidden], stddev=0.01), name="V")

    @property
    def biases(self):
        return (self.bv, self.bh)

    def log_prob(self, v, biases):
        """Exact log p(v) of each row in nats, `[N]`, from `v [N, n_visible]` and per-row biases.

        All a_i of all rows come from one matmul: row (n, i) of `before` holds v_n's units j < i,
        and `before @ W` sums their rows of W. It does more multiply-adds than a running sum over
        i, but on a CPU it ran about 5 times faster (a cumulative sum along the middle axis and
        its gradient are slow there).
        """
        bv, bh = biases
        n_visible, n_hidden = self.W.shape
        earlier = tf.constant(np.tril(np.ones((n_visible, n_visible), np.float32), -1))  # j < i
        before = v[:, tf.newaxis, :] * earlier  # [N, nv, nv]
        summed = tf.matmul(tf.reshape(before, [-1, n_visible]), self.W)
        a = bh[:, tf.newaxis, :] + tf.reshape(summed, [-1, n_visible, n_hidden])  # [N, nv, nh]
        logits = bv + tf.reduce_sum(tf.sigmoid(a) * self.V, axis=-1)
        return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=v, logits=logits), -1)

    def exact_sample(self, biases, seed=None):
        """`(v [N, n_visible], log_p [N])`: one draw per row, unit by unit, gradients stopped;
        log_p is summed as the units are drawn, so it costs nothing beyond the draw."""
        bv, bh = biases
        n_visible = self.W.shape[0]
        uniform = RBM.uniform([n_visible, tf.shape(bv)[0]], seed)
        bv_by_unit = tf.transpose(bv)  # [n_visible, N]

        def step(i, a, log_p, out):
            logit = bv_by_unit[i] + tf.linalg.matvec(tf.sigmoid(a), self.V[i])
            v_i = tf.cast(uniform[i] < tf.sigmoid(logit), tf.float32)
            log_p -= tf.nn.sigmoid_cross_entropy_with_logits(labels=v_i, logits=logit)
            return i + 1, a + v_i[:, tf.newaxis] * self.W[i], log_p, out.write(i, v_i)

        out = tf.TensorArray(tf.float32, size=n_visible)
        log_p = tf.zeros([tf.shape(bv)[0]])
        _, _, log_p, out = tf.while_loop(lambda i, *_: i < n_visible, step,
                                         (tf.constant(0), bh, log_p, out))
        return tf.stop_gradient(tf.transpose(out.stack())), tf.stop_gradient(log_p)


class Bernoulli(_Exact):
    """Independent units: unit i is on with probability sigmoid(bv_i). Only `bv`; `n_hidden` is
    accepted so every distribution is built the same way, and ignored."""

    bias_names = ("bv",)

    def __init__(self, n_visible, n_hidden, rng, name="bernoulli"):
        super().__init__(name=name)
        self.bv = tf.Variable(tf.zeros([n_visible]), name="bv")

    @property
    def biases(self):
        return (self.bv,)

    def log_prob(self, v, biases):
        """Exact log p(v) of each row in nats: `[N]`."""
        (bv,) = biases
        return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=v, logits=bv), -1)

    def exact_sample(self, biases, seed=None):
        """`(v [N, n_visible], log_p [N])`: one draw of each row's units, gradients stopped."""
        (bv,) = biases
        v = tf.stop_gradient(tf.cast(RBM.uniform(tf.shape(bv), seed) < tf.sigmoid(bv), tf.float32))
        return v, tf.stop_gradient(self.log_prob(v, biases))


# The names a checkpoint's hyperparameters use for each step's distribution.
DISTRIBUTIONS = {"rbm": RBM.RBM, "nade": NADE, "bernoulli": Bernoulli}
