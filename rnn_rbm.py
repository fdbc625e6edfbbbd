"""The RNN-RBM of Boulanger-Lewandowski, Bengio and Vincent (ICML 2012) as a `tf.Module`.

A sequence of conditional distributions (RBMs) shares one weight matrix `W`; their biases come
from an RNN:

    bh_t = bh + u_{t-1} Wuh          bv_t = bv + u_{t-1} Wuv
    u_t  = tanh(bu + v_t Wvu + u_{t-1} Wuu),       u_0 a learned vector

The distribution of each step is `HParams.distribution`: an RBM (the RNN-RBM), a NADE (the
paper's RNN-NADE) or independent units (its plain RNN); see `distributions.py`. The RNN holds one
matrix `Wu<name>` for each bias the distribution has (`Wuv`, and `Wuh` where there is a `bh`).

The recurrence is used in two ways:

* Training: the data frames v_1..v_T are known, so the whole RNN pass is computed first, then every
  conditional distribution at once: the one at step t sees u_{t-1} only, never v_t. (The original
  repository conditioned it on u_t, which already contains v_t, so the target leaked into its own
  model; generation used u_{t-1}, so training and generation disagreed.)
* Generation: v_t is unknown until it has been sampled, so each step samples v_t from its
  distribution (a Gibbs chain for an RBM) and only then advances the RNN with it.

Tensors are `[batch, time, n_visible]` for sequences, with a `[batch, time]` mask of 1s on real
frames and 0s on padding.
"""
import dataclasses
import json

import tensorflow as tf

import distributions
import layout
import recurrence

MAX_WEIGHTS = 2 ** 28  # 1 GiB of float32: far beyond any model here, and refused before allocating
# Run settings that older checkpoints stored among the hyperparameters; they are flags now.
_LEGACY_RUN_SETTINGS = ("k_train", "k_generate")


@dataclasses.dataclass
class HParams:
    """The model's structure, enough to rebuild it. Defaults are the original repository's but for
    `n_hidden` and `num_timesteps` (see the README's departures)."""

    n_hidden: int = 150            # hidden units of each conditional RBM (the original: 50)
    n_hidden_recurrent: int = 100  # units of the RNN
    lowest_note: int = layout.LOWEST_NOTE    # lowest MIDI pitch represented
    highest_note: int = layout.HIGHEST_NOTE  # one past the highest MIDI pitch represented
    num_timesteps: int = layout.NUM_TIMESTEPS  # 16th-note frames in one RBM visible vector
    articulation: bool = True      # frames hold [play | articulate] halves, else play only
    distribution: str = "rbm"      # each step's model, a key of distributions.DISTRIBUTIONS

    def __post_init__(self):
        if self.distribution not in distributions.DISTRIBUTIONS:
            raise ValueError(f"distribution {self.distribution!r}: use one of "
                             f"{', '.join(distributions.DISTRIBUTIONS)}")
        for name in ("n_hidden", "n_hidden_recurrent", "num_timesteps", "lowest_note",
                     "highest_note"):
            value, least = getattr(self, name), 0 if name == "lowest_note" else 1  # MIDI 0 is C-1
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name} = {value!r}: it must be a whole number, at least {least}")
        if not isinstance(self.articulation, bool):
            raise ValueError(f"articulation = {self.articulation!r}: it must be true or false")
        if not self.lowest_note < self.highest_note <= 128:
            raise ValueError(f"highest_note {self.highest_note} must be above lowest_note "
                             f"{self.lowest_note} and at most 128 (one past MIDI's highest pitch)")
        if self.n_weights > MAX_WEIGHTS:
            raise ValueError(f"these sizes make {self.n_weights:,} weights, more than the "
                             f"{MAX_WEIGHTS:,} this code allows; use fewer units")

    @property
    def n_weights(self):
        """Weights of the model at most (two visible-by-hidden matrices for a NADE)."""
        nv, nh, nu = self.n_visible, self.n_hidden, self.n_hidden_recurrent
        return 2 * nv * nh + nu * (2 * nv + nh + nu)

    @property
    def n_visible(self):
        """Size of one visible vector."""
        halves = 2 if self.articulation else 1
        return (self.highest_note - self.lowest_note) * halves * self.num_timesteps

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        values = {k: v for k, v in values.items() if k not in _LEGACY_RUN_SETTINGS}
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown hyperparameters: {', '.join(sorted(unknown))}")
        return cls(**values)


def paper_hparams(**overrides):
    """The paper's benchmark setting: 88 piano keys (MIDI 21..108), one frame per RBM, no
    articulation half, 150 hidden and 100 recurrent units."""
    values = dict(n_hidden=150, n_hidden_recurrent=100, lowest_note=layout.BENCHMARK_LOWEST,
                  highest_note=layout.BENCHMARK_LOWEST + layout.BENCHMARK_KEYS, num_timesteps=1,
                  articulation=False)
    values.update(overrides)
    return HParams(**values)


class RnnRbm(tf.Module):
    """The RNN-RBM, its variables named as in the paper and the Theano tutorial.

    Variables: `distribution` (e.g. an `RBM.RBM` with `W [n_visible, n_hidden]`, `bv`, `bh`);
    `Wuv [n_hidden_recurrent, n_visible]` and `Wuh [n_hidden_recurrent, n_hidden]` (RNN -> biases,
    one per bias of the distribution); `Wvu [n_visible, n_hidden_recurrent]`,
    `Wuu [n_hidden_recurrent, n_hidden_recurrent]`, `bu`, `u0 [n_hidden_recurrent]` (the RNN).
    """

    def __init__(self, hparams=None, seed=None, name="rnn_rbm"):
        super().__init__(name=name)
        self.hparams = hp = hparams or HParams()
        rng = (tf.random.Generator.from_seed(seed) if seed is not None
               else tf.random.Generator.from_non_deterministic_state())
        kind = distributions.DISTRIBUTIONS[hp.distribution]
        self.distribution = kind(hp.n_visible, hp.n_hidden, rng)
        nu = hp.n_hidden_recurrent
        # Standard deviation 0.0001 for the RNN matrices, as the Theano tutorial; the original
        # passed it as the *mean* of a unit normal.
        for bias_name, bias in zip(self.distribution.bias_names, self.distribution.biases):
            name = _rnn_weight_name(bias_name)
            weights = rng.normal([nu, bias.shape[0]], stddev=1e-4)
            setattr(self, name, tf.Variable(weights, name=name))
        self.Wvu = tf.Variable(rng.normal([hp.n_visible, nu], stddev=1e-4), name="Wvu")
        self.Wuu = tf.Variable(rng.normal([nu, nu], stddev=1e-4), name="Wuu")
        self.bu = tf.Variable(tf.zeros([nu]), name="bu")
        self.u0 = tf.Variable(tf.zeros([nu]), name="u0")

    @property
    def bias_weights(self):
        """`Wu<name>` for each of the distribution's biases, in the order of its `biases`."""
        return tuple(getattr(self, _rnn_weight_name(b)) for b in self.distribution.bias_names)

    def biases_given(self, u_prev):
        """Each bias of the distribution moved by the RNN states `u_prev`,
        `[batch, n_hidden_recurrent]` or `[batch, time, n_hidden_recurrent]`."""
        if u_prev.shape.rank == 3:
            return tuple(b + tf.einsum("btu,ux->btx", u_prev, w)
                         for b, w in zip(self.distribution.biases, self.bias_weights))
        return tuple(b + tf.matmul(u_prev, w)
                     for b, w in zip(self.distribution.biases, self.bias_weights))

    def rnn_states(self, v):
        """u_1..u_T of the RNN driven by the frames `v [batch, time, n_visible]`.

        The input projection `v_t Wvu + bu` does not depend on the recurrence, so it is one matmul
        for all steps; only `u_{t-1} Wuu` is sequential.
        Returns:
          `[batch, time, n_hidden_recurrent]`.
        """
        drive = tf.einsum("btv,vu->tbu", v, self.Wvu) + self.bu  # [time, batch, n_hidden_recurrent]
        u_init = tf.tile(self.u0[tf.newaxis], [tf.shape(v)[0], 1])
        return tf.transpose(recurrence.tanh_recurrence(drive, u_init, self.Wuu), [1, 0, 2])

    def conditional_biases(self, v, dropout=0.0, seed=None, rnn_input=None):
        """Per-step biases, one `[batch, time, size]` tensor per bias of the distribution.

        Step t uses u_{t-1}: u0 for the first step, then the states after frames 1..t-1 (of
        `rnn_input` where given, of `v` else). With `dropout` > 0 (training only), that share of
        the notes the RNN reads and of the states the biases read are zeroed and the rest scaled
        up; the distributions' own frames are not touched. With `seed` (`[2]` int64) the dropped
        units are a pure function of it, else they come from TensorFlow's global generator.
        """
        x = v if rnn_input is None else rnn_input
        u = self.rnn_states(_dropout(x, dropout, seed, 0) if dropout > 0 else x)
        u0 = tf.tile(self.u0[tf.newaxis, tf.newaxis], [tf.shape(v)[0], 1, 1])
        u_prev = tf.concat([u0, u[:, :-1]], axis=1)  # [batch, time, n_hidden_recurrent]
        if dropout > 0:
            u_prev = _dropout(u_prev, dropout, seed, 1)
        return self.biases_given(u_prev)

    def frames_and_biases(self, v, mask, dropout=0.0, seed=None, rnn_input=None):
        """The real (unpadded) frames `[N, n_visible]` and their biases as rows `[N, size]`, with N
        the number of 1s in `mask`."""
        keep = mask > 0.5
        biases = self.conditional_biases(v, dropout, seed, rnn_input)
        return tf.boolean_mask(v, keep), tuple(tf.boolean_mask(b, keep) for b in biases)

    def self_fed_input(self, v, mask, k, share, seed=None):
        """What the RNN reads in a training step with `share` > 0: `v`, but at that share of the
        steps (each drawn independently) the model's own draw for the step in its place, drawn as
        generation draws (a chain from silence, the last step at `layout.LAST_STEP`) but with
        training's `k` steps, from the biases the data before the step sets. Generation feeds
        the RNN nothing but its own draws; a model that only ever read the data has not learned
        what to do after a draw unlike the data, and on small folders its songs either thin out
        or settle into held chords (scheduled sampling, Bengio et al. 2015, here for one step at
        a time). The draw is a constant to the gradient. `seed` as `training_cost`'s (offshoots
        3 and 4)."""
        shape = tf.shape(v)
        rows = tuple(tf.reshape(b, [-1, b.shape[-1]]) for b in self.conditional_biases(v))
        fold = tf.random.experimental.stateless_fold_in
        drawn = self.distribution.sample(tf.zeros([shape[0] * shape[1], v.shape[-1]]), rows, k,
                                         layout.LAST_STEP, None if seed is None else fold(seed, 3))
        drawn = tf.stop_gradient(tf.reshape(drawn, shape))
        pick_shape = [shape[0], shape[1], 1]
        picks = (tf.random.uniform(pick_shape) if seed is None else
                 tf.random.stateless_uniform(pick_shape, fold(seed, 4)))
        return tf.where(picks < share, drawn, v) * mask[..., tf.newaxis]

    def training_cost(self, v, mask, k, noise=None, dropout=0.0, from_silence=False, seed=None,
                      self_feed=0.0):
        """The cost a training step differentiates, a mean over the real frames of `v`.

        For an RBM at each step: F_t(v_t) - F_t(v_t*), v_t* from CD-k, whose gradient is the CD
        estimate of the negative log-likelihood's; for an exact distribution: -log p(v_t | v_<t)
        in nats.
        Args:
          v: `[batch, time, n_visible]` frames (0/1 floats), padded after each sequence's end.
          mask: `[batch, time]`, 1 on real frames.
          k: Gibbs steps of CD-k (unused by an exact distribution).
          noise: optional pre-drawn uniforms for the chain, see `RBM.gibbs_chain` (N = real frames).
          dropout: see `conditional_biases`; 0 except in training.
          seed: optional `[2]` int64 that the dropout and the chain's draws are a function of
            (replicas of a distributed step each pass their own); without it they come from
            TensorFlow's global generator, as in a single-device step.
          self_feed: share of the steps at which the RNN reads the model's own draw instead of
            the data (`self_fed_input`); the cost still scores the data.
        """
        rnn_input = self.self_fed_input(v, mask, k, self_feed, seed) if self_feed > 0 else None
        frames, biases = self.frames_and_biases(v, mask, dropout, seed, rnn_input)
        if seed is not None:  # apart from the dropout's offshoots 0 and 1
            seed = tf.random.experimental.stateless_fold_in(seed, 2)
        return self.distribution.training_cost(frames, biases, k, noise, from_silence, seed)

    def generate(self, num_steps, primer, k, chain_from_previous=False, temperature=1.0):
        """Samples `num_steps` vectors for each sequence in a batch.

        Args:
          num_steps: scalar int, vectors to generate.
          primer: `[batch, prime_time, n_visible]` frames the RNN reads first (prime_time may be 0
            for an unprimed song); the generated music continues from them.
          k: Gibbs steps per vector of an RBM.
          chain_from_previous: start each step's Gibbs chain from the previous vector, as the blog
            post and the original code did, instead of from silence, as the Theano tutorial did.
            From the previous vector, chains often stick in a spurious mode with two or three times
            the notes of the training songs, so silence is the default.
          temperature: of each chain's last visible step, 1 for a plain draw, 0 for the most
            probable state given the last hidden sample, in between for a draw in which only
            the unlikely notes are tempered (see `RBM.RBM.sample`).
        Returns:
          `[batch, num_steps, n_visible]` 0/1 samples, not including the primer.
        """
        batch = tf.shape(primer)[0]
        u = tf.tile(self.u0[tf.newaxis], [batch, 1])
        if primer.shape[1] != 0:
            u = tf.cond(tf.shape(primer)[1] > 0, lambda: self.rnn_states(primer)[:, -1], lambda: u)
        v = tf.zeros([batch, self.hparams.n_visible])
        # One draw from the global generator, then a seed per step derived from it: a loop may
        # run neighbouring steps' draws out of order, so draws made inside it would depend on
        # timing and a seeded run would not repeat.
        base = tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64)

        def body(i, u_prev, v_prev, out):
            start = v_prev if chain_from_previous else tf.zeros_like(v_prev)
            seed = tf.random.experimental.stateless_fold_in(base, i)
            v_t = self.distribution.sample(start, self.biases_given(u_prev), k, temperature, seed)
            u_t = tf.tanh(self.bu + tf.matmul(v_t, self.Wvu) + tf.matmul(u_prev, self.Wuu))
            return i + 1, u_t, v_t, out.write(i, v_t)

        out = tf.TensorArray(tf.float32, size=num_steps)
        _, _, _, out = tf.while_loop(lambda i, *_: i < num_steps, body, (tf.constant(0), u, v, out))
        return tf.transpose(out.stack(), [1, 0, 2])


def _dropout(x, rate, seed, stream):
    """`tf.nn.dropout`, or with `seed` its stateless twin on the seed's `stream`-th offshoot."""
    if seed is None:
        return tf.nn.dropout(x, rate=rate)
    return tf.nn.experimental.stateless_dropout(
        x, rate, seed=tf.random.experimental.stateless_fold_in(seed, stream))


def _rnn_weight_name(bias_name):
    """`Wuv` for the bias `bv`, `Wuh` for `bh`."""
    return "Wu" + bias_name[1:]


def make_sampler(model, k, chain_from_previous=False, temperature=1.0):
    """A `tf.function` around `model.generate`, traced once for any batch, primer length and steps:
    `sampler(num_steps, primer [batch, prime_time, n_visible]) -> [batch, num_steps, n_visible]`."""
    spec = [tf.TensorSpec([], tf.int32),
            tf.TensorSpec([None, None, model.hparams.n_visible], tf.float32)]
    return tf.function(lambda num_steps, primer: model.generate(
        num_steps, primer, k, chain_from_previous=chain_from_previous, temperature=temperature),
        input_signature=spec)
