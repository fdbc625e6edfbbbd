"""Scores a trained model on a polyphonic benchmark split, as in Table 1 of the paper.

Two figures, both per time step (see `docs/evaluation.md` for how the estimator came about):

* LL: log p(v_t | v_<t) in nats. For an RBM at each step, log p = -F_t(v_t) - log Z_t with log Z_t
  from annealed importance sampling (Salakhutdinov & Murray 2008) from a base model fitted to
  Gibbs chains of that RBM; the mass of the distinct states those chains and half the runs found
  is summed exactly, and the other half of the runs estimate the rest (`log_likelihoods`). A NADE
  or independent units give it exactly (`exact_log_likelihoods`).
* ACC: the expected frame-level accuracy of Bay et al. (2009), TP / (TP + FP + FN), as the
  paper's authors define it: for each time step, the expectation over frames drawn from the model
  given the true frames before it of that frame's accuracy (`frame_scores`).

Gibbs chains come from `RBM.py` (`RBM.stateless_gibbs_chain` where the draws must be a pure
function of a seed, the model's own sampler for predictions).
"""
import numpy as np
import tensorflow as tf

import RBM

# ---------------------------------------------------------------------------------------------
# Annealed importance sampling of log Z for a batch of RBMs sharing W.
#
# Distribution k interpolates the energies of a base model A and the RBM B, hidden units summed out:
#    log f_k(v) = (1 - beta_k) v.a + beta_k v.bv + sum_j softplus(beta_k (v W + bh)_j)
# At beta = 1 this is exp(-F(v)), the RBM itself. At beta = 0 the visible units are independent
# with biases a and the hidden units are fair coins, so Z_0 = prod_i (1 + e^a_i) * 2^n_hidden is
# exact and v can be drawn exactly. Every f_k is an RBM, so block Gibbs sampling at beta_k leaves
# it invariant, as AIS requires. The base is Salakhutdinov & Murray's "base-rate" model: a is set
# so that the base has the RBM's own visible marginals, here estimated by Gibbs chains since there
# is no data per conditional RBM. With a = bv instead (W = 0), a trained RBM's strongly negative
# visible biases make the base almost always silent while the RBM plays chords, and 300 betas gave
# estimates off by several nats. Marginals from mean field were no better on Nottingham: mean
# field settles in one mode, the base then all but excludes the others, and AIS misses their mass
# (see log_likelihoods).
# ---------------------------------------------------------------------------------------------

BASE_CHAIN_STEPS = 50   # steps of each of those chains
MARGINAL_FLOOR = 0.001  # base marginals stay in [floor, 1 - floor]: the base covers every state


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
    pieces = [np.linspace(0.0, 0.5, low, endpoint=False),
              np.linspace(0.5, 0.9, mid, endpoint=False),
              np.linspace(0.9, 1.0, high + 1)]
    return np.concatenate(pieces).astype(np.float32)


def _bernoulli(probs, seed):
    """0/1 draws with probabilities `probs`, a pure function of `seed` ([2] int32)."""
    return RBM.sample(probs, tf.random.stateless_uniform(tf.shape(probs), seed))


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
    kind = tf.tile(tf.range(num_chains) % 3, [n])[:, None]  # [N * chains, 1], an RBM's adjacent
    previous = tf.repeat(start, num_chains, axis=0)
    sparse = _bernoulli(tf.fill(tf.shape(previous), 0.05),
                        tf.random.experimental.stateless_fold_in(seed, -1))
    v0 = tf.where(kind == 0, tf.zeros_like(previous), tf.where(kind == 1, previous, sparse))
    v, probs = RBM.stateless_gibbs_chain(v0, W, tf.repeat(bv, num_chains, axis=0),
                                         tf.repeat(bh, num_chains, axis=0), num_steps, seed)
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
    return (log_z0[:, None] + tf.reshape(log_w, [n, num_runs]),
            tf.reshape(v, [n, num_runs, n_visible]))


def _state_keys(states):
    """One opaque key per row of `states [N, M, n_visible]` (0/1), naming the RBM and the state."""
    n, m, _ = states.shape
    packed = np.packbits(states > 0.5, axis=-1).reshape(n * m, -1)
    owner = np.repeat(np.arange(n, dtype=">u4"), m).view(np.uint8).reshape(-1, 4)
    keys = np.concatenate([owner, packed], 1)
    return np.ascontiguousarray(keys).view(f"V{keys.shape[1]}").ravel()


def found_states_log_partition(W, bv, bh, states):
    """log of the sum of exp(-F) over the distinct rows of `states`, per RBM: a lower bound on
    log Z.

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
      run_log_z: `[N, R]` each AIS run's log w_r; run_states: `[N, R, n_visible]` their final
        states.
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
    log Z by nats, which makes the likelihood look better than it is. So:

    1. `num_runs` Gibbs chains per frame, started from silence, the previous frame and random
       sparse frames, give the visible marginals of a factorial AIS base model that covers the
       modes those chains found (`sampled_marginals`).
    2. AIS from that base, `num_runs` runs in two halves.
    3. The distinct states among the true frame, the chains' final states and one half's final
       states make a set S whose mass is summed exactly (`found_states_log_partition`); the other
       half estimates the mass outside S (`split_log_partition`). Z_t is the mean of the two
       estimates this gives, each half in each role. Each is unbiased, because the half that
       estimates never helped choose S, and S takes in every mode any run or chain reached.

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
        raise ValueError(f"num_runs must be at least 2 (the runs are used in two halves), not "
                         f"{num_runs}")
    out, shares = [], []
    for i in range(0, len(frames), batch):
        rows = slice(i, i + batch)
        log_z, share = _cross_fitted_log_partition(W, frames[rows], previous[rows], bv[rows],
                                                   bh[rows], betas, num_runs, [seed, 2 * i])
        shares.append(share)
        out.append(-RBM.free_energy(frames[rows], W, bv[rows], bh[rows]).numpy() - log_z)
    return np.concatenate(out).astype(np.float64), np.concatenate(shares)


def _cross_fitted_log_partition(W, frames, previous, bv, bh, betas, num_runs, seed):
    """`(log Z [N], found share [N])` of one batch of frames, as `log_likelihoods` describes;
    `seed` is `[seed, 2 i]` for the batch starting at frame i."""
    chain_seed = [seed[0], seed[1] + 1]
    marginals, chain_states = sampled_marginals(W, previous, bv, bh, num_runs, BASE_CHAIN_STEPS,
                                                chain_seed)
    run_log_z, run_states = ais_log_partition(W, bv, bh, base_visible_biases(marginals), betas,
                                              num_runs, seed)
    run_log_z, run_states = run_log_z.numpy().astype(np.float64), run_states.numpy()
    seen = np.concatenate([frames[:, None, :], chain_states.numpy()], 1)
    half = num_runs // 2
    estimates = []
    for chooser, estimator in ((slice(0, half), slice(half, None)),
                               (slice(half, None), slice(0, half))):
        found = np.concatenate([seen, run_states[:, chooser]], 1)
        estimates.append(split_log_partition(found_states_log_partition(W, bv, bh, found), found,
                                             run_log_z[:, estimator], run_states[:, estimator]))
    (log_z_1, share_1), (log_z_2, share_2) = estimates
    log_z = np.logaddexp(log_z_1, log_z_2) - np.log(2.0)
    share = (share_1 * np.exp(log_z_1 - log_z) + share_2 * np.exp(log_z_2 - log_z)) / 2
    return log_z, share


def exact_log_likelihoods(distribution, frames, biases, batch):
    """log p(v_t | v_<t) of every frame under an exact distribution (a NADE or independent
    units), given its per-frame `biases`: `[N]` float64 nats."""
    out = [distribution.log_prob(frames[i:i + batch], tuple(b[i:i + batch] for b in biases))
           .numpy() for i in range(0, len(frames), batch)]
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
    """True positives, false positives and false negatives, summed over all rows, as ints."""
    return tuple(int(np.sum(count)) for count in _row_counts(predicted, target))


def accuracy(tp, fp, fn):
    """TP / (TP + FP + FN), elementwise; 1.0 where there is nothing to find and nothing was
    predicted."""
    tp, total = np.asarray(tp), np.asarray(tp) + fp + fn
    return np.where(total > 0, tp / np.maximum(total, 1), 1.0)


def frame_accuracies(predicted, target):
    """`accuracy` of every frame on its own: 0/1 arrays `[..., n_visible]` (target broadcast
    against predicted) -> float array `[...]`."""
    return accuracy(*_row_counts(predicted, target))


def make_frame_predictor(distribution, n_visible):
    """A `tf.function` drawing sampled predictions of frames from a step distribution.

    Returns:
      `predict(start [N, n_visible], biases, num_samples, k) -> (samples [N, num_samples,
      n_visible], mode [N, n_visible])`: each sample is one `distribution.sample` draw, for an RBM
      the end of a `k`-step Gibbs chain started from that frame's row of `start`, otherwise an
      exact draw (`start` and `k` unused); `mode` is, for each frame, the most probable of its
      samples (the highest `distribution.log_score`). `biases` holds one `[N, size]` array per
      bias of the distribution.
    """
    bias_spec = tuple(tf.TensorSpec([None, b.shape[0]], tf.float32) for b in distribution.biases)
    spec = [tf.TensorSpec([None, n_visible], tf.float32), bias_spec,
            tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)]

    @tf.function(input_signature=spec)
    def predict(start, biases, num_samples, k):
        def rows(x):
            return tf.repeat(x, num_samples, axis=0)  # [N * num_samples, ...], copies adjacent

        rows_biases = tuple(rows(b) for b in biases)
        v = distribution.sample(rows(start), rows_biases, k)
        samples = tf.reshape(v, [-1, num_samples, n_visible])
        scores = tf.reshape(distribution.log_score(v, rows_biases), [-1, num_samples])
        return samples, tf.gather(samples, tf.argmax(scores, axis=1), batch_dims=1)

    return predict


def frame_scores(distribution, frames, previous, biases, num_samples, k, batch):
    """Accuracies of two predictions of every frame given the true frames before it.

    An RBM's chains start from the true previous frame (zeros for a sequence's first frame), which
    is known at time t and near where the conditional RBM puts its mass. A short chain still
    remembers that start, which biases the expectation (up on Nottingham, where the previous frame
    is often right, down on JSB), hence the evaluator's default of 1000 steps. An exact
    distribution draws its frames exactly and ignores `previous` and `k`.
    Returns:
      `(expected [N], mode [N], pooled)`: `expected` is each frame's accuracy averaged over its
      `num_samples` sampled frames (the expected accuracy of a frame drawn from the model); `mode`
      the accuracy of the most probable of those samples; `pooled` the `(tp, fp, fn)` of all
      sampled frames summed.
    """
    predict = make_frame_predictor(distribution, frames.shape[1])
    expected, mode, pooled = [], [], np.zeros(3, np.int64)
    for i in range(0, len(frames), batch):
        rows = slice(i, i + batch)
        guesses, best = predict(previous[rows], tuple(b[rows] for b in biases), num_samples, k)
        guesses, target = guesses.numpy(), frames[rows]
        expected.append(frame_accuracies(guesses, target[:, None, :]).mean(axis=1))
        mode.append(frame_accuracies(best.numpy(), target))
        pooled += frame_counts(guesses, target[:, None, :])
    return np.concatenate(expected), np.concatenate(mode), tuple(int(x) for x in pooled)


def conditional_rows(model, rolls):
    """Every frame of `rolls` with what the model conditions it on, as rows of numpy arrays.

    Args:
      model: an `rnn_rbm.RnnRbm` with 88 visible units.
      rolls: list of `[T_i, 88]` piano rolls (empty ones are skipped).
    Returns:
      `(frames [N, 88], previous [N, 88], biases)`, N = total time steps; `previous` is the frame
      before (zeros at a sequence's start), `biases` one `[N, size]` array per bias of the
      distribution at that step, computed from the true frames before it.
    """
    spec = tf.TensorSpec([None, None, model.hparams.n_visible], tf.float32)
    conditional_biases = tf.function(model.conditional_biases, input_signature=[spec])
    frames, previous, biases = [], [], []
    for roll in rolls:
        if len(roll) == 0:
            continue
        v = np.asarray(roll, np.float32)
        frames.append(v)
        previous.append(np.concatenate([np.zeros_like(v[:1]), v[:-1]]))
        biases.append([b.numpy()[0] for b in conditional_biases(v[None])])
    return (np.concatenate(frames), np.concatenate(previous),
            tuple(np.concatenate(column) for column in zip(*biases)))
