"""Scores a trained RNN-RBM on a polyphonic benchmark split, as in Table 1 of the paper.

    python rnn_rbm_evaluate.py CHECKPOINT --dataset ../shared/data/jsb_chorales.json [--split test]

CHECKPOINT is the prefix written by `rnn_rbm.save` (e.g. `/tmp/jsb/best`); the model must have the
paper's 88 visible units (MIDI 21..108, one frame per RBM, no articulation half). Two figures are
printed beside the paper's RNN-RBM, RNN-NADE (HF) and RNN (HF) rows for that dataset (an RNN-NADE
or plain RNN checkpoint, `--distribution nade` or `bernoulli`, has its LL computed exactly instead
of by AIS):

* LL: the mean over every time step of the split of log p(v_t | v_<t) in nats. Each step is a
  conditional RBM, so log p(v_t | v_<t) = -F_t(v_t) - log Z_t, with log Z_t estimated by annealed
  importance sampling (Salakhutdinov & Murray 2008), 100 runs per step as in the paper, from a base
  model fitted to Gibbs chains of that RBM: the mass of the distinct states those chains and half
  the runs found is summed exactly, and the other half of the runs estimate the rest (see
  `log_likelihoods` for why).
  The average is over time steps, not over sequences: long sequences weigh more, as in the paper.
* ACC: the expected frame-level accuracy of Bay et al. (2009), TP / (TP + FP + FN), as the
  paper's authors define it on their dataset page: for each time step, the expectation over frames
  drawn from the model given the true frames before it of that frame's accuracy, then the mean of
  those expectations over every time step of the split (each step weighs the same; a step with
  no note that is predicted silent scores 1). The expectation is estimated from samples. Beside
  it, the same per-step mean for one deterministic prediction per frame, the most probable of its
  samples (lowest free energy), and for repeating the previous frame. The script also prints the
  sampled frames' accuracy with the counts pooled over the split before the ratio, which earlier
  versions reported as ACC and which comes out 4 to 5 points lower.

AIS is the slow part: runs x betas x time steps Gibbs steps, about 0.15 ms per step and beta with
100 runs and 150 hidden units on this machine's 2 CPU cores. On the first 3 Nottingham test songs
(576 steps) of the RNN-RBM in the README, this estimator gives -2.115, -2.116, -2.125 and -2.134
nats per step at 100, 300, 1000 and 3000 betas; the earlier one, the larger of a whole-Z AIS
estimate and the found states' sum, gave -2.239, -2.244, -2.171 and -2.160, and AIS alone -1.598,
-1.960, -2.088 and -2.133.
`--ais-betas 300` is a fair quick setting and `--max-sequences 10` a quicker one. An RBM's ACC
costs samples x `--acc-gibbs` Gibbs steps per time step: with the defaults about 2 minutes on JSB's
test split (4,725 steps) and 18 on Nottingham's.
"""
import argparse
import os
import sys
import time

import numpy as np
import tensorflow as tf

import RBM
import midi_manipulation
import rnn_rbm

SPLIT = "test"           # the split scored; model selection belongs to "valid", never to "test"
AIS_RUNS = 100           # AIS runs per conditional RBM, as in the paper
AIS_BETAS = 1000         # intermediate distributions (14500 gives Salakhutdinov & Murray's own schedule)
ACC_SAMPLES = 100        # sampled predictions of each frame (the mode is picked among them)
ACC_GIBBS = 1000         # Gibbs steps per sampled prediction of an RBM: chains long enough to forget
                         # their start (on JSB, 25 steps give 24.81 % and 1000 give 27.44 %)
FRAMES_PER_BATCH = 128   # conditional RBMs processed together (memory ~ frames x runs x n_hidden)
SEED = 1234              # seeds TensorFlow's and numpy's random draws

# Table 1 of the paper: (name, RNN-RBM row, RNN-NADE (HF) row, RNN (HF) row), each row (LL per
# time step in nats, ACC in %).
PAPER_TABLE = {
    "piano": ("Piano-midi.de", (-7.09, 28.92), (-7.05, 23.42), (-7.66, 23.34)),
    "nottingham": ("Nottingham", (-2.39, 75.40), (-2.31, 71.50), (-3.89, 66.64)),
    "muse": ("MuseData", (-6.01, 34.02), (-5.60, 32.60), (-7.19, 30.49)),
    "jsb": ("JSB Chorales", (-6.27, 33.12), (-5.56, 32.50), (-8.58, 29.41)),
}
RANDOM_LL = -midi_manipulation.BENCHMARK_KEYS * np.log(2.0)  # every frame equally likely: -61.00

# ---------------------------------------------------------------------------------------------
# Annealed importance sampling of log Z for a batch of RBMs sharing W.
#
# Distribution k interpolates the energies of a base model A and the RBM B, hidden units summed out:
#     log f_k(v) = (1 - beta_k) v.a + beta_k v.bv + sum_j softplus(beta_k (v W + bh)_j)
# At beta = 1 this is exp(-F(v)), the RBM itself. At beta = 0 the visible units are independent with
# biases a and the hidden units are fair coins, so Z_0 = prod_i (1 + e^a_i) * 2^n_hidden is exact and
# v can be drawn exactly. Every f_k is an RBM, so block Gibbs sampling at beta_k leaves it invariant,
# as AIS requires. The base is Salakhutdinov & Murray's "base-rate" model: a is set so that the base
# has the RBM's own visible marginals, here estimated by Gibbs chains since there is no data per
# conditional RBM. With a = bv instead (W = 0), a trained RBM's strongly negative visible biases make
# the base almost always silent while the RBM plays chords, and 300 betas gave estimates off by
# several nats. Marginals from mean field were no better on Nottingham: mean field settles in one
# mode, the base then all but excludes the others, and AIS misses their mass (see log_likelihoods).
# ---------------------------------------------------------------------------------------------

BASE_CHAIN_STEPS = 50   # steps of each of those chains
MARGINAL_FLOOR = 0.001  # base marginals are kept in [floor, 1 - floor] so the base covers every state


def ais_betas(num_betas):
    """The inverse temperatures 0 = beta_0 < ... < beta_K = 1, with K = `num_betas`.

    Salakhutdinov & Murray's piecewise-linear spacing, scaled: K/29 steps on [0, 0.5], 8K/29 on
    [0.5, 0.9] and 20K/29 on [0.9, 1], so that K = 14500 is exactly their 500 / 4000 / 10000. Most
    steps go near beta = 1, where the distribution changes fastest for a trained RBM.

    Returns:
      float32 array `[num_betas + 1]`.
    """
    if num_betas < 29:
        return np.linspace(0.0, 1.0, num_betas + 1, dtype=np.float32)
    low, mid = round(num_betas / 29), round(8 * num_betas / 29)
    high = num_betas - low - mid
    pieces = [np.linspace(0.0, 0.5, low, endpoint=False), np.linspace(0.5, 0.9, mid, endpoint=False),
              np.linspace(0.9, 1.0, high + 1)]
    return np.concatenate(pieces).astype(np.float32)


def _bernoulli(probs, seed):
    """0/1 draws with probabilities `probs`, a pure function of `seed` ([2] int32)."""
    return tf.cast(tf.random.stateless_uniform(tf.shape(probs), seed) < probs, probs.dtype)


def _gibbs_steps(v, W, bv, bh, num_steps, seed):
    """`num_steps` block Gibbs steps from `v` with stateless draws; returns `(v, p(v | h) of the last h)`."""
    def step(i, v, _):
        h = _bernoulli(RBM.hidden_probs(v, W, bh), tf.random.experimental.stateless_fold_in(seed, 2 * i))
        probs = RBM.visible_probs(h, W, bv)
        return i + 1, _bernoulli(probs, tf.random.experimental.stateless_fold_in(seed, 2 * i + 1)), probs

    _, v, probs = tf.while_loop(lambda i, *_: i < num_steps, step, (tf.constant(0), v, tf.zeros_like(v)))
    return v, probs


@tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32),
                              tf.TensorSpec([None, None], tf.float32),
                              tf.TensorSpec([None, None], tf.float32),
                              tf.TensorSpec([None, None], tf.float32),
                              tf.TensorSpec([], tf.int32),
                              tf.TensorSpec([], tf.int32),
                              tf.TensorSpec([2], tf.int32)])
def sampled_marginals(W, start, bv, bh, num_chains, num_steps, seed):
    """Visible marginals of N RBMs sharing `W`, from Gibbs chains started in several places.

    A third of each RBM's chains start from silence, a third from its row of `start` (the true
    previous frame) and a third from random sparse frames, so that a conditional RBM with several
    modes (two likely chords, say) has chains in more than one of them.
    Args:
      W: `[n_visible, n_hidden]`; start, bv: `[N, n_visible]`; bh: `[N, n_hidden]`.
    Returns:
      `(marginals [N, n_visible], samples [N, num_chains, n_visible])`; the marginals average
      p(v | h) over the chains' last hidden states, the samples are the chains' last states.
    """
    n, n_visible = tf.shape(bv)[0], tf.shape(bv)[1]
    kind = tf.tile(tf.range(num_chains) % 3, [n])[:, None]  # [N * chains, 1], RBM i's chains adjacent
    previous = tf.repeat(start, num_chains, axis=0)
    sparse = _bernoulli(tf.fill(tf.shape(previous), 0.05), tf.random.experimental.stateless_fold_in(seed, -1))
    v0 = tf.where(kind == 0, tf.zeros_like(previous), tf.where(kind == 1, previous, sparse))
    v, probs = _gibbs_steps(v0, W, tf.repeat(bv, num_chains, axis=0), tf.repeat(bh, num_chains, axis=0),
                            num_steps, seed)
    return (tf.reduce_mean(tf.reshape(probs, [n, num_chains, n_visible]), 1),
            tf.reshape(v, [n, num_chains, n_visible]))


def base_visible_biases(marginals):
    """Biases `[N, n_visible]` of the factorial base model with the given marginals (clipped)."""
    mu = np.clip(np.asarray(marginals, np.float64), MARGINAL_FLOOR, 1 - MARGINAL_FLOOR)
    return (np.log(mu) - np.log1p(-mu)).astype(np.float32)


@tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32),
                              tf.TensorSpec([None, None], tf.float32),
                              tf.TensorSpec([None, None], tf.float32),
                              tf.TensorSpec([None, None], tf.float32),
                              tf.TensorSpec([None], tf.float32),
                              tf.TensorSpec([], tf.int32),
                              tf.TensorSpec([2], tf.int32)])
def ais_log_partition(W, bv, bh, base, betas, num_runs, seed):
    """AIS estimates of log Z for N RBMs that share `W` but have their own biases.

    Args:
      W: `[n_visible, n_hidden]`.
      bv, base: `[N, n_visible]`, bh: `[N, n_hidden]`: row i holds the biases of RBM i and of its
        factorial base model (see `base_visible_biases`).
      betas: `[K + 1]` increasing from 0 to 1 (see `ais_betas`).
      num_runs: independent AIS runs per RBM, all done at once.
      seed: `[2]` int32; the estimates are a deterministic function of it.
    Returns:
      `(run_log_z [N, num_runs], states [N, num_runs, n_visible])`: each run's log w_r and its
      final state. Each w_r is an unbiased estimate of Z, so log mean_r w_r, the plain AIS
      estimate, is biased low on average (Jensen), and by far more when the runs miss a mode of the
      RBM (see `log_likelihoods`). Weighted by w_r, the final states are draws from the RBM:
      mean_r w_r h(v_r) estimates the sum of exp(-F(v)) h(v) over all v.
    """
    n, n_visible, n_hidden = tf.shape(bv)[0], tf.shape(W)[0], tf.shape(W)[1]
    base_runs = tf.repeat(base, num_runs, axis=0)  # [N * runs, n_visible], RBM i's runs adjacent
    bv_runs = tf.repeat(bv, num_runs, axis=0)      # [N * runs, n_visible]
    bh_runs = tf.repeat(bh, num_runs, axis=0)      # [N * runs, n_hidden]
    fold = tf.random.experimental.stateless_fold_in
    v = _bernoulli(tf.sigmoid(base_runs), fold(seed, 0))  # exact draws from the beta = 0 model
    log_w = tf.zeros([n * num_runs])

    def step(k, v, log_w):
        x = tf.matmul(v, W) + bh_runs  # [N * runs, n_hidden], the hidden units' input at beta = 1
        hidden = tf.nn.softplus(betas[k] * x) - tf.nn.softplus(betas[k - 1] * x)
        visible = (betas[k] - betas[k - 1]) * (v * (bv_runs - base_runs))
        log_w += tf.reduce_sum(hidden, -1) + tf.reduce_sum(visible, -1)
        h = _bernoulli(tf.sigmoid(betas[k] * x), fold(seed, 2 * k))
        v_input = base_runs + betas[k] * (bv_runs - base_runs + tf.matmul(h, W, transpose_b=True))
        return k + 1, _bernoulli(tf.sigmoid(v_input), fold(seed, 2 * k + 1)), log_w

    num_steps = tf.shape(betas)[0]
    _, v, log_w = tf.while_loop(lambda k, *_: k < num_steps, step, (tf.constant(1), v, log_w))
    log_z0 = tf.reduce_sum(tf.nn.softplus(base), -1) + tf.cast(n_hidden, tf.float32) * np.log(2.0)
    return log_z0[:, None] + tf.reshape(log_w, [n, num_runs]), tf.reshape(v, [n, num_runs, n_visible])


def _state_keys(states):
    """One opaque key per row of `states [N, M, n_visible]` (0/1), naming the RBM and the state."""
    n, m, _ = states.shape
    packed = np.packbits(states > 0.5, axis=-1).reshape(n * m, -1)
    keys = np.concatenate([np.repeat(np.arange(n, dtype=">u4"), m).view(np.uint8).reshape(-1, 4), packed], 1)
    return np.ascontiguousarray(keys).view("V{}".format(keys.shape[1])).ravel()


def found_states_log_partition(W, bv, bh, states):
    """log of the sum of exp(-F) over the distinct rows of `states`, per RBM: a lower bound on log Z.

    Args:
      W: `[n_visible, n_hidden]`; bv: `[N, n_visible]`; bh: `[N, n_hidden]` (numpy).
      states: `[N, M, n_visible]` 0/1 states of each RBM; repeats count once.
    Returns:
      float64 array `[N]`. Z sums exp(-F(v)) over all 2**n_visible states, so any set of distinct
      states gives a lower bound, and a tight one when the states hold most of the mass.
    """
    n, m, n_visible = states.shape
    _, first = np.unique(_state_keys(states), return_index=True)
    distinct = np.zeros(n * m, bool)
    distinct[first] = True
    flat = states.reshape(n * m, n_visible).astype(np.float32)
    neg_f = -RBM.free_energy(flat, W, np.repeat(bv, m, axis=0), np.repeat(bh, m, axis=0)).numpy()
    neg_f = np.where(distinct, neg_f.astype(np.float64), -np.inf).reshape(n, m)
    return np.logaddexp.reduce(neg_f, axis=1)


def split_log_partition(log_z_found, found, run_log_z, run_states):
    """log Z as the exact sum over the found states plus an AIS estimate of the mass outside them.

    Z = sum over the found set S of exp(-F(v)) + sum over the rest. The first sum is exact
    (`found_states_log_partition`); the AIS runs estimate the second without bias, each run
    counting only if its final state lies outside S (see `ais_log_partition`). When S holds most
    of the mass, the noisy part of the estimate is small.
    Args:
      log_z_found: `[N]` log of the sum over S; found: `[N, M, n_visible]` the states S is made of;
      run_log_z: `[N, R]` each AIS run's log w_r; run_states: `[N, R, n_visible]` their final states.
      S must not depend on the AIS runs (here: the true frame and the base chains' final states).
    Returns:
      `(log_z [N], share [N])`: the estimate of log Z and the part of it that S holds.
    """
    n, runs = run_log_z.shape
    outside = ~np.isin(_state_keys(run_states), _state_keys(found)).reshape(n, runs)
    log_rest = np.logaddexp.reduce(np.where(outside, run_log_z, -np.inf), axis=1) - np.log(runs)
    log_z = np.logaddexp(log_z_found, log_rest)
    return log_z, np.exp(log_z_found - log_z)


def log_likelihoods(W, frames, previous, bv, bh, betas, num_runs, batch, seed=0):
    """log p(v_t | v_<t) = -F_t(v_t) - log Z_t of every frame, with log Z_t estimated as below.

    The conditional RBMs of a trained model are peaked and often have several modes (Nottingham:
    a held chord or the next one). AIS from a narrow base then misses modes and underestimates
    log Z by nats, which makes the likelihood look better than it is: on 64 Nottingham valid
    frames, AIS from a mean-field base gave a mean probability of the true frame above 1. So:

    1. `num_runs` Gibbs chains per frame, started from silence, the previous frame and random
       sparse frames, give the visible marginals of a factorial AIS base model that covers the
       modes those chains found (`sampled_marginals`).
    2. AIS from that base, `num_runs` runs in two halves.
    3. The distinct states among the true frame, the chains' final states and one half's final
       states make a set S whose mass is summed exactly (`found_states_log_partition`); the other
       half estimates the mass outside S (`split_log_partition`). Z_t is the mean of the two
       estimates this gives, each half in each role. Each is unbiased, because the half that
       estimates never helped choose S, and S takes in every mode any run or chain reached.

    Taking the larger of a whole-Z AIS estimate and the sum over S instead, as an earlier version
    did, is biased towards a larger Z where S holds most of the mass: AIS's overestimates are kept
    and its underestimates replaced. On the first 3 Nottingham test songs that cost 0.12 to 0.13
    nats a step at 100 and 300 betas against this estimator (see the module's docstring).

    Args:
      W: `[n_visible, n_hidden]`; frames, previous, bv: `[N, n_visible]`; bh: `[N, n_hidden]`
        (numpy); `previous` is where a third of the base chains start.
      betas: `[K + 1]` AIS schedule; num_runs: AIS runs (and base chains) per frame;
      batch: frames per call. seed: int; the result depends only on it and the inputs.
    Returns:
      `(log_likelihoods [N] float64 nats, found_share [N])`; `found_share` is the part of each
      estimated Z that the found states hold.
    """
    if num_runs < 2:
        raise ValueError("num_runs must be at least 2 (the runs are used in two halves), not {}".format(num_runs))
    out, shares = [], []
    for i in range(0, len(frames), batch):
        rows = slice(i, i + batch)
        marginals, chain_states = sampled_marginals(W, previous[rows], bv[rows], bh[rows], num_runs,
                                                    BASE_CHAIN_STEPS, [seed, 2 * i + 1])
        run_log_z, run_states = ais_log_partition(W, bv[rows], bh[rows], base_visible_biases(marginals),
                                                  betas, num_runs, [seed, 2 * i])
        run_log_z, run_states = run_log_z.numpy().astype(np.float64), run_states.numpy()
        seen = np.concatenate([frames[rows][:, None, :], chain_states.numpy()], 1)
        half = num_runs // 2
        estimates = []
        for chooser, estimator in ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))):
            found = np.concatenate([seen, run_states[:, chooser]], 1)
            estimates.append(split_log_partition(found_states_log_partition(W, bv[rows], bh[rows], found), found,
                                                 run_log_z[:, estimator], run_states[:, estimator]))
        (log_z_1, share_1), (log_z_2, share_2) = estimates
        log_z = np.logaddexp(log_z_1, log_z_2) - np.log(2.0)
        shares.append((share_1 * np.exp(log_z_1 - log_z) + share_2 * np.exp(log_z_2 - log_z)) / 2)
        out.append(-RBM.free_energy(frames[rows], W, bv[rows], bh[rows]).numpy() - log_z)
    return np.concatenate(out).astype(np.float64), np.concatenate(shares)


def exact_log_likelihoods(model, frames, bv, bh, batch):
    """log p(v_t | v_<t) of every frame of an RNN-NADE or a plain RNN, exact: `[N]` float64 nats."""
    out = [model.log_prob(frames[i:i + batch], bv[i:i + batch], bh[i:i + batch]).numpy()
           for i in range(0, len(frames), batch)]
    return np.concatenate(out).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# Expected frame-level accuracy (Bay, Ehmann & Downie 2009).
# ---------------------------------------------------------------------------------------------


def _row_counts(predicted, target):
    """Per-row `(tp, fp, fn)` int arrays `[...]` of 0/1 arrays `[..., n_visible]` (target
    broadcast against predicted)."""
    predicted, target = np.asarray(predicted) > 0.5, np.asarray(target) > 0.5
    return (np.sum(predicted & target, axis=-1), np.sum(predicted & ~target, axis=-1),
            np.sum(~predicted & target, axis=-1))


def frame_counts(predicted, target):
    """True positives, false positives and false negatives, summed over all rows, as Python ints."""
    return tuple(int(np.sum(count)) for count in _row_counts(predicted, target))


def accuracy(tp, fp, fn):
    """TP / (TP + FP + FN), elementwise; 1.0 where there is nothing to find and nothing was predicted."""
    tp, total = np.asarray(tp), np.asarray(tp) + fp + fn
    return np.where(total > 0, tp / np.maximum(total, 1), 1.0)


def frame_accuracies(predicted, target):
    """`accuracy` of every frame on its own: 0/1 arrays `[..., n_visible]` (target broadcast
    against predicted) -> float array `[...]`."""
    return accuracy(*_row_counts(predicted, target))


def make_frame_predictor(model):
    """A `tf.function` drawing sampled predictions of frames from `model`'s conditional distributions.

    Returns:
      `predict(start [N, n_visible], bv [N, n_visible], bh [N, n_hidden], num_samples, k) ->
      (samples [N, num_samples, n_visible], mode [N, n_visible])`: each sample is one
      `model.sample_frames` draw, for an RBM the end of a `k`-step Gibbs chain started from that
      frame's row of `start`, otherwise an exact draw (`start` and `k` unused); `mode` is, for each
      frame, the most probable of its samples (the highest `model.log_score`).
    """
    hp = model.hparams
    spec = [tf.TensorSpec([None, hp.n_visible], tf.float32), tf.TensorSpec([None, hp.n_visible], tf.float32),
            tf.TensorSpec([None, hp.n_hidden], tf.float32), tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32)]

    @tf.function(input_signature=spec)
    def predict(start, bv, bh, num_samples, k):
        def rows(x):
            return tf.repeat(x, num_samples, axis=0)  # [N * num_samples, ...], a frame's copies adjacent

        bv_rows, bh_rows = rows(bv), rows(bh)
        v = model.sample_frames(rows(start), bv_rows, bh_rows, k)
        samples = tf.reshape(v, [-1, num_samples, hp.n_visible])
        best = tf.argmax(tf.reshape(model.log_score(v, bv_rows, bh_rows), [-1, num_samples]), axis=1)
        return samples, tf.gather(samples, best, batch_dims=1)

    return predict


def frame_scores(model, frames, previous, bv, bh, num_samples, k, batch):
    """Accuracies of two predictions of every frame given the true frames before it.

    An RBM's chains start from the true previous frame (zeros for a sequence's first frame), which
    is known at time t and near where the conditional RBM puts its mass. A short chain still
    remembers that start, which biases the expectation (up on Nottingham, where the previous frame
    is often right, down on JSB), hence the script's default of 1000 steps. An RNN-NADE or a plain
    RNN draws its frames exactly and ignores `previous` and `k`.
    Returns:
      `(expected [N], mode [N], pooled)`: `expected` is each frame's accuracy averaged over its
      `num_samples` sampled frames (the expected accuracy of a frame drawn from the model); `mode`
      the accuracy of the most probable of those samples (the more samples, the closer to the
      mode); `pooled` the `(tp, fp, fn)` of all sampled frames summed.
    """
    predict = make_frame_predictor(model)
    expected, mode, pooled = [], [], np.zeros(3, np.int64)
    for i in range(0, len(frames), batch):
        rows = slice(i, i + batch)
        guesses, best = predict(previous[rows], bv[rows], bh[rows], num_samples, k)
        guesses, target = guesses.numpy(), frames[rows]
        expected.append(frame_accuracies(guesses, target[:, None, :]).mean(axis=1))
        mode.append(frame_accuracies(best.numpy(), target))
        pooled += frame_counts(guesses, target[:, None, :])
    return np.concatenate(expected), np.concatenate(mode), tuple(int(x) for x in pooled)


# ---------------------------------------------------------------------------------------------
# The script.
# ---------------------------------------------------------------------------------------------


def conditional_rows(model, rolls):
    """Every frame of `rolls` with what the model conditions it on, as rows of numpy arrays.

    Args:
      model: an `rnn_rbm.RnnRbm` with 88 visible units.
      rolls: list of `[T_i, 88]` piano rolls (empty ones are skipped).
    Returns:
      `(frames [N, 88], previous [N, 88], bv [N, 88], bh [N, n_hidden])`, N = total time steps;
      `previous` is the frame before (zeros at a sequence's start), bv/bh the RBM biases at that
      step, computed from the true frames before it.
    """
    spec = tf.TensorSpec([None, None, model.hparams.n_visible], tf.float32)
    biases = tf.function(model.conditional_biases, input_signature=[spec])
    parts = []
    for roll in rolls:
        if len(roll) == 0:
            continue
        v = np.asarray(roll, np.float32)
        bv_t, bh_t = biases(v[None])
        previous = np.concatenate([np.zeros_like(v[:1]), v[:-1]])
        parts.append((v, previous, bv_t.numpy()[0], bh_t.numpy()[0]))
    return tuple(np.concatenate(column) for column in zip(*parts))


def paper_row(dataset_path):
    """`(name, RNN-RBM, RNN-NADE (HF), RNN (HF))` from the paper, each `(LL, ACC %)`, for the
    dataset named by the file, or None."""
    name = os.path.basename(dataset_path).lower()
    for key, row in PAPER_TABLE.items():
        if key in name:
            return row
    return None


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="checkpoint prefix written by rnn_rbm.save (e.g. /tmp/jsb/best)")
    parser.add_argument("--dataset", required=True,
                        help="benchmark file in the paper's format, .json or .pickle")
    parser.add_argument("--split", default=SPLIT, choices=midi_manipulation.BENCHMARK_SPLITS,
                        help="split to score (default %(default)s)")
    parser.add_argument("--max-sequences", type=int, default=0,
                        help="score only the first N sequences of the split (0 = all)")
    parser.add_argument("--ais-runs", type=int, default=AIS_RUNS,
                        help="AIS runs per time step, at least 2 (default %(default)s, as in the paper)")
    parser.add_argument("--ais-betas", type=int, default=AIS_BETAS,
                        help="AIS intermediate distributions, spaced as Salakhutdinov & Murray's "
                             "500/4000/10000 scaled to this total (default %(default)s)")
    parser.add_argument("--acc-samples", type=int, default=ACC_SAMPLES,
                        help="sampled predictions per frame for ACC (default %(default)s)")
    parser.add_argument("--acc-gibbs", type=int, default=ACC_GIBBS,
                        help="Gibbs steps per sampled prediction of an RBM (default %(default)s)")
    parser.add_argument("--batch", type=int, default=FRAMES_PER_BATCH,
                        help="time steps processed together (default %(default)s)")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed (default %(default)s)")
    args = parser.parse_args(argv)
    for flag in ("ais_betas", "acc_samples", "acc_gibbs", "batch"):
        if getattr(args, flag) < 1:
            parser.error("--{} must be at least 1".format(flag.replace("_", "-")))
    if args.ais_runs < 2:
        parser.error("--ais-runs must be at least 2 (the runs are used in two halves)")
    return args


def load_inputs(args):
    """The model and the split's piano rolls; exits with a one-line message if either is unusable."""
    try:
        model = rnn_rbm.load(args.checkpoint)
        rolls = midi_manipulation.load_benchmark(args.dataset)[args.split]
    except (rnn_rbm.CheckpointError, midi_manipulation.BenchmarkError) as e:
        sys.exit("error: {}".format(e))
    hp = model.hparams
    if hp.n_visible != midi_manipulation.BENCHMARK_KEYS or hp.lowest_note != midi_manipulation.BENCHMARK_LOWEST:
        sys.exit("error: {}: the model has {} visible units from MIDI {}, the benchmarks need 88 from "
                 "MIDI 21; train it with --dataset (the paper setting)".format(
                     args.checkpoint, hp.n_visible, hp.lowest_note))
    if args.max_sequences > 0:
        rolls = rolls[:args.max_sequences]
    if not sum(len(r) for r in rolls):
        sys.exit("error: {}: split {!r} has no time steps; pick another split".format(args.dataset, args.split))
    return model, rolls


def print_table(dataset, ll, acc, acc_mode, acc_repeat):
    """Our figures beside the paper's RNN-RBM, RNN-NADE (HF) and RNN (HF) rows and two baselines."""
    paper = paper_row(dataset)
    row = "{:<24}{:>10}{:>10}{:>14}"
    print(row.format("", "LL", "ACC %", "ACC % (mode)"))
    print(row.format("this model", "{:.2f}".format(ll), "{:.2f}".format(100 * acc),
                     "{:.2f}".format(100 * acc_mode)))
    if paper:
        for label, (paper_ll, paper_acc) in zip(("paper RNN-RBM", "paper RNN-NADE (HF)", "paper RNN (HF)"), paper[1:]):
            print(row.format(label, "{:.2f}".format(paper_ll), "{:.2f}".format(paper_acc), "-"))
    print(row.format("repeat previous frame", "-", "-", "{:.2f}".format(100 * acc_repeat)))
    print(row.format("random (-88 ln 2)", "{:.2f}".format(RANDOM_LL), "-", "-"))


def main(argv=None):
    args = parse_args(argv)
    tf.random.set_seed(args.seed)
    np.random.seed(args.seed)
    model, rolls = load_inputs(args)
    frames, previous, bv, bh = conditional_rows(model, rolls)
    print("{} on {} [{}]: {} sequences, {} time steps".format(
        args.checkpoint, args.dataset, args.split, len(rolls), len(frames)))

    start = time.time()
    if model.is_exact:
        ll = exact_log_likelihoods(model, frames, bv, bh, args.batch)
        print("LL   {:.3f} nats per time step   (exact: each step is {}; {:.0f} s)".format(
            ll.mean(), "a NADE" if model.is_nade else "independent units", time.time() - start))
    else:
        betas = ais_betas(args.ais_betas)
        ll, found_share = log_likelihoods(model.W.numpy(), frames, previous, bv, bh, betas, args.ais_runs,
                                          args.batch, args.seed)
        print("LL   {:.3f} nats per time step   (AIS: {} runs, {} betas; the found states held {:.1f} % "
              "of Z, mean over steps; {:.0f} s)".format(ll.mean(), args.ais_runs, args.ais_betas,
                                                      100 * found_share.mean(), time.time() - start))

    start = time.time()
    expected, mode, pooled = frame_scores(model, frames, previous, bv, bh, args.acc_samples, args.acc_gibbs,
                                          args.batch)
    acc, acc_mode = expected.mean(), mode.mean()
    how = "exact draws" if model.is_exact else "{} Gibbs steps".format(args.acc_gibbs)
    print("ACC  {:.2f} %   (mean over time steps of each step's expected accuracy, standard error {:.2f}; "
          "{} samples per frame, {}; {:.0f} s)".format(100 * acc, 100 * expected.std() / np.sqrt(len(expected)),
                                                      args.acc_samples, how, time.time() - start))
    print("     {:.2f} %   (most probable of each frame's samples, mean over time steps)".format(100 * acc_mode))
    print("     {:.2f} %   (sampled frames, counts pooled over the split: TP {} FP {} FN {})".format(
        100 * float(accuracy(*pooled)), *pooled))
    print_table(args.dataset, ll.mean(), acc, acc_mode, frame_accuracies(previous, frames).mean())
    return ll.mean(), acc, acc_mode


if __name__ == "__main__":
    main()
