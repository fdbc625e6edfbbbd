"""The RNN-RBM of Boulanger-Lewandowski, Bengio and Vincent (ICML 2012) as a `tf.Module`.

A sequence of conditional RBMs shares one weight matrix `W`; their biases come from an RNN:

    bh_t = bh + u_{t-1} Wuh          bv_t = bv + u_{t-1} Wuv
    u_t  = tanh(bu + v_t Wvu + u_{t-1} Wuu),       u_0 a learned vector

With `HParams.distribution = "nade"` the same RNN drives a NADE (Larochelle & Murray 2011) at each
step instead of an RBM, the paper's RNN-NADE: `W` becomes the NADE's input weights, a second matrix
`V` its output weights, and bv_t, bh_t its visible and hidden biases. A NADE gives log p(v_t) exactly,
so it is trained on the log-likelihood itself rather than with CD, and sampled unit by unit.
With `distribution = "bernoulli"` every unit of v_t is an independent Bernoulli with logit bv_t:
the paper's plain RNN baseline, also exact (W and bh are kept but unused).

The recurrence is used in two ways (one of the two modes is picked by the caller):

* Training: the data frames v_1..v_T are known, so the whole RNN pass is computed first, then every
  conditional RBM at once: the RBM at step t sees u_{t-1} only, never v_t. (The original
  repository conditioned it on u_t, which already contains v_t, so the target leaked into its own
  model; generation used u_{t-1}, so training and generation disagreed.)
* Generation: v_t is unknown until it has been sampled, so each step samples v_t from its RBM with
  a Gibbs chain and only then advances the RNN with it.

Tensors are `[batch, time, n_visible]` for sequences, with a `[batch, time]` mask of 1s on real
frames and 0s on padding. The hyperparameters live in `HParams`; checkpoints store them in a JSON
file beside the weights, so a checkpoint alone is enough to rebuild its model.
"""
import dataclasses
import glob
import json
import os
import re

import numpy as np
import tensorflow as tf

import RBM


# ---------------------------------------------------------------------------------------------
# The recurrence u_t = tanh(x_t + u_{t-1} Wuu), the only sequential part of a training step.
# Both directions run as XLA-compiled loops, and the backward pass is written out: it carries only
# dL/da_t = (dL/du_t + dL/da_{t+1} Wuu^T) (1 - u_t^2) from step to step, and the gradient for Wuu
# is one matmul over all steps afterwards instead of one small matmul per step. Time and batch are
# padded up to a few sizes (`RBM.padded_rows`) so XLA compiles a handful of shapes; padding steps
# come after the real ones and padded rows are independent, so neither changes a real state.
# ---------------------------------------------------------------------------------------------


@tf.function(jit_compile=True)
def _recurrence_forward(drive, u_init, Wuu):
    return tf.scan(lambda u, x: tf.tanh(x + tf.matmul(u, Wuu)), drive, initializer=u_init)


@tf.function(jit_compile=True)
def _recurrence_backward(d_states, states, Wuu):
    def step(d_next, inputs):
        d_u, u = inputs
        return (d_u + tf.matmul(d_next, Wuu, transpose_b=True)) * (1.0 - tf.square(u))

    return tf.scan(step, (d_states, states), initializer=tf.zeros_like(states[0]), reverse=True)


@tf.custom_gradient
def _recurrence(drive, u_init, Wuu):
    # The compiled loops are called on gradient-stopped inputs: a recording tape would otherwise ask
    # them for their own gradient, which XLA loops cannot hand back; `grad` below is that gradient.
    stop = tf.stop_gradient
    states = _recurrence_forward(stop(drive), stop(u_init), stop(Wuu))

    def grad(d_states):
        d_pre = _recurrence_backward(stop(d_states), stop(states), stop(Wuu))  # dL/da_t, [time, batch, units]
        previous = tf.concat([u_init[tf.newaxis], states[:-1]], axis=0)
        return d_pre, tf.matmul(d_pre[0], Wuu, transpose_b=True), tf.einsum("tbi,tbj->ij", previous, d_pre)

    return states, grad


def tanh_recurrence(drive, u_init, Wuu):
    """States u_1..u_T of u_t = tanh(drive_t + u_{t-1} Wuu) from u_0 = `u_init`.

    Args:
      drive: `[time, batch, units]`; u_init: `[batch, units]`; Wuu: `[units, units]`.
    Returns:
      `[time, batch, units]`, differentiable with respect to all three inputs.
    """
    time_steps, rows = tf.shape(drive)[0], tf.shape(drive)[1]
    pad_t, pad_b = RBM.padded_rows(time_steps) - time_steps, RBM.padded_rows(rows) - rows
    states = _recurrence(tf.pad(drive, [[0, pad_t], [0, pad_b], [0, 0]]),
                         tf.pad(u_init, [[0, pad_b], [0, 0]]), Wuu)
    return states[:time_steps, :rows]


DISTRIBUTIONS = ("rbm", "nade", "bernoulli")


# ---------------------------------------------------------------------------------------------
# NADE (Larochelle & Murray 2011), the other distribution a step can have. Unit i of v is Bernoulli
# given the units before it:
#     a_i = bh + sum_{j<i} v_j W_j          h_i = sigmoid(a_i)
#     p(v_i = 1 | v_<i) = sigmoid(bv_i + h_i . V_i)
# W and V are [n_visible, n_hidden]; as with the RBM, each row (time step) has its own biases.
# ---------------------------------------------------------------------------------------------


def nade_log_prob(v, W, V, bv, bh):
    """Exact log p(v) of each row, in nats: `[N]`.

    Args:
      v, bv: `[N, n_visible]`; bh: `[N, n_hidden]`; W, V: `[n_visible, n_hidden]`.
    All a_i of all rows come from one matmul: row (n, i) of `before` holds v_n's units j < i, and
    `before @ W` sums their rows of W. It does more multiply-adds than a running sum over i, but
    on a CPU it ran about 5 times faster (a cumulative sum along the middle axis and its gradient
    are slow there); what remains is elementwise work over `[N, n_visible, n_hidden]`.
    """
    n_visible, n_hidden = W.shape
    earlier = tf.constant(np.tril(np.ones((n_visible, n_visible), np.float32), -1))  # [i, j] = 1 if j < i
    before = v[:, tf.newaxis, :] * earlier  # [N, nv, nv]
    a = bh[:, tf.newaxis, :] + tf.reshape(tf.matmul(tf.reshape(before, [-1, n_visible]), W),
                                          [-1, n_visible, n_hidden])  # [N, nv, nh]
    logits = bv + tf.reduce_sum(tf.sigmoid(a) * V, axis=-1)
    return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=v, logits=logits), axis=-1)


def nade_sample(W, V, bv, bh):
    """One draw of v for each row, unit by unit, with its exact log-probability.

    Args: as `nade_log_prob`, without `v`.
    Returns:
      `(v [N, n_visible] of 0/1, log_p [N])`, gradients stopped; log_p is summed as the units are
      drawn, so it costs nothing beyond the draw.
    """
    n_visible = W.shape[0]
    uniform = tf.random.uniform([n_visible, tf.shape(bv)[0]])
    bv_by_unit = tf.transpose(bv)  # [n_visible, N]

    def step(i, a, log_p, out):
        logit = bv_by_unit[i] + tf.linalg.matvec(tf.sigmoid(a), V[i])
        v_i = tf.cast(uniform[i] < tf.sigmoid(logit), tf.float32)
        log_p -= tf.nn.sigmoid_cross_entropy_with_logits(labels=v_i, logits=logit)
        return i + 1, a + v_i[:, tf.newaxis] * W[i], log_p, out.write(i, v_i)

    out = tf.TensorArray(tf.float32, size=n_visible)
    log_p = tf.zeros([tf.shape(bv)[0]])
    _, _, log_p, out = tf.while_loop(lambda i, *_: i < n_visible, step, (tf.constant(0), bh, log_p, out))
    return tf.stop_gradient(tf.transpose(out.stack())), tf.stop_gradient(log_p)


def bernoulli_log_prob(v, bv):
    """Exact log p(v) of each row when its units are independent, unit i on with probability
    sigmoid(bv_i): `[N]` from `v, bv [N, n_visible]`."""
    return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=v, logits=bv), axis=-1)


def bernoulli_sample(bv):
    """One draw of each row's independent units and its log-probability, as `nade_sample`."""
    v = tf.cast(tf.random.uniform(tf.shape(bv)) < tf.sigmoid(bv), tf.float32)
    return tf.stop_gradient(v), tf.stop_gradient(bernoulli_log_prob(v, bv))


@dataclasses.dataclass
class HParams:
    """Everything needed to rebuild a model; defaults are those of the original repository."""
    n_hidden: int = 50             # hidden units of each conditional RBM
    n_hidden_recurrent: int = 100  # units of the RNN
    lowest_note: int = 24          # lowest MIDI pitch represented
    highest_note: int = 102        # one past the highest MIDI pitch represented
    num_timesteps: int = 5         # 16th-note frames concatenated into one RBM visible vector
    articulation: bool = True      # frames hold [play | articulate] halves, else play only
    k_train: int = 15              # Gibbs steps of the CD-k negative phase in training
    k_generate: int = 25           # Gibbs steps per generated vector
    distribution: str = "rbm"      # each step's model: "rbm" (RNN-RBM), "nade" (RNN-NADE), "bernoulli" (RNN)

    def __post_init__(self):
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError("distribution {!r}: use one of {}".format(self.distribution,
                                                                        ", ".join(DISTRIBUTIONS)))
        for name in ("n_hidden", "n_hidden_recurrent", "num_timesteps"):
            if getattr(self, name) < 1:
                raise ValueError("{} = {}: it must be at least 1".format(name, getattr(self, name)))
        if self.highest_note <= self.lowest_note:
            raise ValueError("highest_note {} must be above lowest_note {}".format(self.highest_note,
                                                                                  self.lowest_note))

    @property
    def n_visible(self):
        """Size of one RBM visible vector."""
        halves = 2 if self.articulation else 1
        return (self.highest_note - self.lowest_note) * halves * self.num_timesteps

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError("unknown hyperparameters: {}".format(", ".join(sorted(unknown))))
        return cls(**values)


class RnnRbm(tf.Module):
    """The RNN-RBM, its variables named as in the paper and the Theano tutorial.

    Variables: `W [n_visible, n_hidden]`, `bv [n_visible]`, `bh [n_hidden]` (the RBM);
    `Wuh [n_hidden_recurrent, n_hidden]`, `Wuv [n_hidden_recurrent, n_visible]` (RNN -> RBM biases);
    `Wvu [n_visible, n_hidden_recurrent]`, `Wuu [n_hidden_recurrent, n_hidden_recurrent]`,
    `bu [n_hidden_recurrent]`, `u0 [n_hidden_recurrent]` (the RNN). With a NADE at each step,
    also `V [n_visible, n_hidden]`, the NADE's output weights (W is then its input weights).
    """

    def __init__(self, hparams=None, seed=None, name="rnn_rbm"):
        super().__init__(name=name)
        self.hparams = hparams or HParams()
        nv, nh, nu = self.hparams.n_visible, self.hparams.n_hidden, self.hparams.n_hidden_recurrent
        rng = tf.random.Generator.from_seed(seed) if seed is not None else tf.random.Generator.from_non_deterministic_state()

        def normal(shape, stddev, var_name):
            return tf.Variable(rng.normal(shape, stddev=stddev), name=var_name)

        def zeros(shape, var_name):
            return tf.Variable(tf.zeros(shape), name=var_name)

        # Standard deviations 0.01 for W and 0.0001 for the RNN matrices, as the Theano tutorial;
        # the original passed them as the *mean* of a unit normal.
        self.W = normal([nv, nh], 0.01, "W")
        self.bv = zeros([nv], "bv")
        self.bh = zeros([nh], "bh")
        self.Wuh = normal([nu, nh], 0.0001, "Wuh")
        self.Wuv = normal([nu, nv], 0.0001, "Wuv")
        self.Wvu = normal([nv, nu], 0.0001, "Wvu")
        self.Wuu = normal([nu, nu], 0.0001, "Wuu")
        self.bu = zeros([nu], "bu")
        self.u0 = zeros([nu], "u0")
        if self.hparams.distribution == "nade":
            self.V = normal([nv, nh], 0.01, "V")

    @property
    def is_nade(self):
        return self.hparams.distribution == "nade"

    @property
    def is_exact(self):
        """True when log p(v_t | v_<t) is computed exactly (a NADE or independent units), not an RBM."""
        return self.hparams.distribution != "rbm"

    @property
    def rbm_variables(self):
        """The variables a pre-training sets: W, bv, bh (and V for a NADE; bv alone for independent units)."""
        if self.is_nade:
            return (self.W, self.V, self.bv, self.bh)
        if self.is_exact:
            return (self.bv,)
        return (self.W, self.bv, self.bh)

    def log_prob(self, frames, bv_t, bh_t):
        """Exact log p of each row of `frames` under its step's NADE or independent units: `[N]`."""
        if self.is_nade:
            return nade_log_prob(frames, self.W, self.V, bv_t, bh_t)
        return bernoulli_log_prob(frames, bv_t)

    def log_score(self, frames, bv_t, bh_t):
        """log p of each row of `frames` up to a constant of its step: -F_t(v) for an RBM (log Z_t
        left out), the exact log p otherwise. Ranks a step's candidate frames: `[N]`."""
        if self.is_exact:
            return self.log_prob(frames, bv_t, bh_t)
        return -RBM.free_energy(frames, self.W, bv_t, bh_t)

    def exact_sample(self, bv_t, bh_t):
        """`(v [N, n_visible], log_p [N])`: one exact draw from each row's NADE or independent units."""
        if self.is_nade:
            return nade_sample(self.W, self.V, bv_t, bh_t)
        return bernoulli_sample(bv_t)

    def rnn_states(self, v):
        """u_1..u_T of the RNN driven by the frames `v [batch, time, n_visible]`.

        The input projection `v_t Wvu + bu` does not depend on the recurrence, so it is one matmul
        for all steps; only `u_{t-1} Wuu` is sequential.

        Returns:
          `[batch, time, n_hidden_recurrent]`.
        """
        drive = tf.einsum("btv,vu->tbu", v, self.Wvu) + self.bu  # [time, batch, n_hidden_recurrent]
        u_init = tf.tile(self.u0[tf.newaxis], [tf.shape(v)[0], 1])
        return tf.transpose(tanh_recurrence(drive, u_init, self.Wuu), [1, 0, 2])

    def conditional_biases(self, v, dropout=0.0):
        """Per-step RBM biases `(bv_t [batch, time, n_visible], bh_t [batch, time, n_hidden])`.

        Step t uses u_{t-1}: u0 for the first step, then the states after frames 1..t-1. With
        `dropout` > 0 (training only), that share of the notes the RNN reads and of the states the
        biases read are zeroed and the rest scaled up; the RBMs' own frames are not touched.
        """
        u = self.rnn_states(tf.nn.dropout(v, rate=dropout) if dropout > 0 else v)
        u0 = tf.tile(self.u0[tf.newaxis, tf.newaxis], [tf.shape(v)[0], 1, 1])
        u_prev = tf.concat([u0, u[:, :-1]], axis=1)  # [batch, time, n_hidden_recurrent]
        if dropout > 0:
            u_prev = tf.nn.dropout(u_prev, rate=dropout)
        bv_t = self.bv + tf.einsum("btu,uv->btv", u_prev, self.Wuv)
        bh_t = self.bh + tf.einsum("btu,uh->bth", u_prev, self.Wuh)
        return bv_t, bh_t

    def frames_and_biases(self, v, mask, dropout=0.0):
        """The real (unpadded) frames and their RBM biases, as rows: `[N, n_visible]`, `[N, n_visible]`,
        `[N, n_hidden]` with N the number of 1s in `mask`."""
        bv_t, bh_t = self.conditional_biases(v, dropout)
        keep = mask > 0.5
        return tf.boolean_mask(v, keep), tf.boolean_mask(bv_t, keep), tf.boolean_mask(bh_t, keep)

    def free_energy_cost(self, v, mask, k=None, noise=None, dropout=0.0):
        """Training cost: mean over real frames of F_t(v_t) - F_t(v_t*), v_t* from CD-k.

        Args:
          v: `[batch, time, n_visible]` frames (0/1 floats), padded after each sequence's end.
          mask: `[batch, time]`, 1 on real frames.
          k: Gibbs steps (default `hparams.k_train`).
          noise: optional pre-drawn uniforms for the chain, see `RBM.gibbs_chain` (N = real frames).
          dropout: rate of dropout on the RNN's inputs and on the states that set the biases (see
            `conditional_biases`); 0 except in training.
        Returns:
          A scalar whose gradient is the CD estimate of the mean negative log-likelihood gradient.
        """
        k = self.hparams.k_train if k is None else k
        frames, bv_t, bh_t = self.frames_and_biases(v, mask, dropout)
        negative = RBM.gibbs_chain(frames, self.W, bv_t, bh_t, k, noise)
        return RBM.free_energy_cost(frames, negative, self.W, bv_t, bh_t)

    def negative_log_likelihood(self, v, mask, dropout=0.0):
        """An exact model's training cost: mean over real frames of -log p(v_t | v_<t), in nats."""
        frames, bv_t, bh_t = self.frames_and_biases(v, mask, dropout)
        return -tf.reduce_mean(self.log_prob(frames, bv_t, bh_t))

    def training_cost(self, v, mask, noise=None, dropout=0.0):
        """The cost a training step differentiates: `free_energy_cost` for an RBM at each step,
        `negative_log_likelihood` otherwise (`noise` is for the RBM's chain only)."""
        if self.is_exact:
            return self.negative_log_likelihood(v, mask, dropout)
        return self.free_energy_cost(v, mask, noise=noise, dropout=dropout)

    def sample_frames(self, start, bv_t, bh_t, k):
        """One draw from each row's distribution: a `k`-step Gibbs chain from `start` for an RBM,
        an exact draw otherwise (which ignores `start` and `k`). `[N, n_visible]`."""
        if self.is_exact:
            return self.exact_sample(bv_t, bh_t)[0]
        return RBM.gibbs_chain(start, self.W, bv_t, bh_t, k)

    def generate(self, num_steps, primer, k=None, chain_from_previous=False):
        """Samples `num_steps` vectors for each sequence in a batch.

        Args:
          num_steps: scalar int, vectors to generate.
          primer: `[batch, prime_time, n_visible]` frames the RNN reads first (prime_time may be 0
            for an unprimed song); the generated music continues from them.
          k: Gibbs steps per vector (default `hparams.k_generate`).
          chain_from_previous: start each step's Gibbs chain from the previous vector, as the blog
            post and the original code did, instead of from silence, as the Theano tutorial did.
            From the previous vector, chains often stick in a spurious mode with two or three times
            the notes of the training songs (see README), so silence is the default.
        Returns:
          `[batch, num_steps, n_visible]` 0/1 samples, not including the primer.
        """
        k = self.hparams.k_generate if k is None else k
        batch = tf.shape(primer)[0]
        u = tf.tile(self.u0[tf.newaxis], [batch, 1])
        if primer.shape[1] != 0:
            u = tf.cond(tf.shape(primer)[1] > 0, lambda: self.rnn_states(primer)[:, -1], lambda: u)
        v = tf.zeros([batch, self.hparams.n_visible])

        def step(u_prev, v_prev):
            bv_t = self.bv + tf.matmul(u_prev, self.Wuv)
            bh_t = self.bh + tf.matmul(u_prev, self.Wuh)
            start = v_prev if chain_from_previous else tf.zeros_like(v_prev)
            v_t = self.sample_frames(start, bv_t, bh_t, k)
            u_t = tf.tanh(self.bu + tf.matmul(v_t, self.Wvu) + tf.matmul(u_prev, self.Wuu))
            return u_t, v_t

        def body(i, u_prev, v_prev, out):
            u_t, v_t = step(u_prev, v_prev)
            return i + 1, u_t, v_t, out.write(i, v_t)

        out = tf.TensorArray(tf.float32, size=num_steps)
        _, _, _, out = tf.while_loop(lambda i, *_: i < num_steps, body, (tf.constant(0), u, v, out))
        return tf.transpose(out.stack(), [1, 0, 2])


class Adam(tf.Module):
    """Adam (Kingma & Ba, 2015) over a fixed list of variables, with its state as tf.Variables.

    A few lines of our own rather than a Keras optimizer, so that its moments live in the same
    `tf.train.Checkpoint` as the model and a resumed run continues exactly where it stopped.
    """

    def __init__(self, variables, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
        super().__init__(name="adam")
        self.learning_rate, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self.step = tf.Variable(0, dtype=tf.int64, name="step")
        self.m = [tf.Variable(tf.zeros_like(x), name="m") for x in variables]
        self.v = [tf.Variable(tf.zeros_like(x), name="v") for x in variables]

    def apply(self, grads, variables):
        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float32)
        lr = self.learning_rate * tf.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        for g, x, m, v in zip(grads, variables, self.m, self.v):
            m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
            x.assign_sub(lr * m / (tf.sqrt(v) + self.epsilon))


class SGD(tf.Module):
    """Plain gradient descent with a fixed learning rate (the paper's and the tutorial's choice)."""

    def __init__(self, variables, learning_rate=1e-3):
        super().__init__(name="sgd")
        self.learning_rate = learning_rate
        self.step = tf.Variable(0, dtype=tf.int64, name="step")

    def apply(self, grads, variables):
        self.step.assign_add(1)
        for g, x in zip(grads, variables):
            x.assign_sub(self.learning_rate * g)


def make_optimizer(name, variables, learning_rate):
    """`'adam'` or `'sgd'` over `variables`."""
    if name == "adam":
        return Adam(variables, learning_rate)
    if name == "sgd":
        return SGD(variables, learning_rate)
    raise ValueError("unknown optimizer {!r}: use 'adam' or 'sgd'".format(name))


def make_train_step(model, optimizer, grad_clip=10.0, compiled_chain=True, dropout=0.0):
    """A `tf.function` doing one update on a padded batch; traced once for every batch and length.

    Gradients are clipped elementwise to +-grad_clip, as in the original repository. `dropout` > 0
    drops that share of the RNN's input notes and of the states that set the RBM biases, in this
    step only (`RnnRbm.conditional_biases`).
    With `compiled_chain=False` the CD chain draws its uniforms with TensorFlow's generator and
    runs as separate kernels (`RBM.uniform_noise`), the path before the compiled chain; the
    benchmark times both.
    Returns:
      `train_step(v [batch, time, n_visible], mask [batch, time]) -> cost` (a scalar tensor).
    """
    variables = model.trainable_variables
    spec = [tf.TensorSpec([None, None, model.hparams.n_visible], tf.float32),
            tf.TensorSpec([None, None], tf.float32)]

    @tf.function(input_signature=spec)
    def train_step(v, mask):
        noise = None
        if not compiled_chain and not model.is_exact:
            real = tf.cast(tf.math.count_nonzero(mask > 0.5), tf.int32)
            hp = model.hparams
            noise = RBM.uniform_noise(hp.k_train, real, hp.n_hidden, hp.n_visible)
        with tf.GradientTape() as tape:
            cost = model.training_cost(v, mask, noise=noise, dropout=dropout)
        # Independent units leave W and bh out of the cost: their gradient is taken as 0.
        grads = tape.gradient(cost, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        optimizer.apply([tf.clip_by_value(g, -grad_clip, grad_clip) for g in grads], variables)
        return cost

    return train_step


def make_sampler(model, chain_from_previous=False):
    """A `tf.function` around `model.generate`, traced once for any batch, primer length and steps:
    `sampler(num_steps, primer [batch, prime_time, n_visible]) -> [batch, num_steps, n_visible]`."""
    spec = [tf.TensorSpec([], tf.int32), tf.TensorSpec([None, None, model.hparams.n_visible], tf.float32)]
    return tf.function(lambda num_steps, primer: model.generate(
        num_steps, primer, chain_from_previous=chain_from_previous), input_signature=spec)


class CheckpointError(Exception):
    """A checkpoint is missing, incomplete or does not fit the model asked for."""


def hparams_path(prefix):
    """The JSON file holding a checkpoint's hyperparameters."""
    return prefix + ".json"


def checkpoint_exists(prefix):
    return os.path.exists(prefix + ".index")


def save(prefix, model, **extra):
    """Writes the model (and any other trackables in `extra`, e.g. optimizer=, epoch=) to `prefix`.

    Files: `<prefix>.index`, `<prefix>.data-*` and `<prefix>.json` (the hyperparameters).
    """
    folder = os.path.dirname(prefix)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tf.train.Checkpoint(model=model, **extra).write(prefix)
    with open(hparams_path(prefix), "w") as f:
        f.write(model.hparams.to_json() + "\n")


def epoch_checkpoints(out_dir):
    """`{epoch: prefix}` of the complete epoch_<n> checkpoints in `out_dir`."""
    found = {}
    for index in glob.glob(os.path.join(out_dir, "epoch_*.index")):
        match = re.fullmatch(r"epoch_(\d+)\.index", os.path.basename(index))
        if match:
            found[int(match.group(1))] = index[:-len(".index")]
    return found


def load_hparams(prefix):
    """The `HParams` stored beside a checkpoint; `CheckpointError` if there is no such checkpoint."""
    if not checkpoint_exists(prefix):
        raise CheckpointError("{}: no checkpoint there (expected {}.index); train one first or check "
                              "the path".format(prefix, prefix))
    try:
        with open(hparams_path(prefix)) as f:
            return HParams.from_dict(json.load(f))
    except (OSError, ValueError, TypeError) as e:
        raise CheckpointError("{}: cannot read its hyperparameters ({}); the checkpoint needs the "
                              "{} written beside it".format(prefix, e, hparams_path(prefix))) from None


def restore(prefix, model, **extra):
    """Reads `prefix` into `model` (and `extra` trackables); `CheckpointError` on a shape mismatch."""
    if not checkpoint_exists(prefix):
        load_hparams(prefix)  # raises the missing-checkpoint error
    try:
        status = tf.train.Checkpoint(model=model, **extra).read(prefix)
        status.assert_existing_objects_matched()
        status.expect_partial()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
        message = str(e).strip().splitlines()[0]
        raise CheckpointError("{}: does not match the model ({}); use a checkpoint made with the same "
                              "sizes".format(prefix, message)) from None


def load(prefix):
    """Rebuilds the model stored at checkpoint `prefix` from its hyperparameters and weights."""
    model = RnnRbm(load_hparams(prefix))
    restore(prefix, model)
    return model


def split_into_chunks(songs, chunk_length):
    """Cuts every song `[T_i, n_visible]` into consecutive pieces of at most `chunk_length` steps.

    Training back-propagates through one piece at a time, each starting from u0, as the paper and
    the original repository did with 100-step pieces. A `chunk_length` of 0 keeps songs whole.
    """
    if chunk_length <= 0:
        return list(songs)
    return [song[i:i + chunk_length] for song in songs for i in range(0, len(song), chunk_length)]


def pad_batch(sequences, n_visible):
    """Stacks sequences of different lengths into `(v [batch, time, n_visible], mask [batch, time])`,
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


def paper_hparams(**overrides):
    """The paper's benchmark setting: 88 piano keys (MIDI 21..108), one frame per RBM, no
    articulation half, 150 hidden and 100 recurrent units."""
    values = dict(n_hidden=150, n_hidden_recurrent=100, lowest_note=21, highest_note=109,
                  num_timesteps=1, articulation=False)
    values.update(overrides)
    return HParams(**values)


def load_songs(hparams, midi_dir=None, dataset=None, split="train"):
    """The training material as a list of float32 arrays `[T_i, n_visible]`.

    Either every MIDI file in `midi_dir` (note-state matrices with `hparams.num_timesteps` frames per
    vector), or one split of a benchmark file in the paper's format (`dataset`, .json or .pickle),
    whose frames are 88-key piano rolls. Raises FileNotFoundError, midi_manipulation.MidiFileError or
    ValueError with a one-line message naming the path.
    """
    import midi_manipulation  # imported here so the model itself does not depend on mido

    if dataset is not None:
        if hparams.n_visible != 88 or hparams.lowest_note != 21:
            raise ValueError("{}: benchmark frames are 88 keys from MIDI 21, but the model has {} "
                             "visible units from {}; use the paper setting".format(
                                 dataset, hparams.n_visible, hparams.lowest_note))
        songs = midi_manipulation.load_benchmark(dataset)[split]
        return [np.asarray(s, np.float32) for s in songs if len(s)]
    if not hparams.articulation or (hparams.lowest_note, hparams.highest_note) != (
            midi_manipulation.lowerBound, midi_manipulation.upperBound):
        raise ValueError("{}: MIDI folders are read as [play | articulate] over MIDI {}..{}; this "
                         "model uses another layout, train it with --dataset".format(
                             midi_dir, midi_manipulation.lowerBound, midi_manipulation.upperBound - 1))
    songs = midi_manipulation.get_songs(midi_dir, num_timesteps=hparams.num_timesteps)
    return [s.astype(np.float32) for s in songs]
