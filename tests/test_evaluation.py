"""The evaluator's library: AIS and the split estimate of log Z, frame accuracy, the rows a model
conditions each frame on."""
import itertools

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_model

import evaluation as ev
import RBM
import rnn_rbm


def test_ais_matches_enumeration_of_a_small_rbm():
    rng = np.random.default_rng(0)
    W = rng.normal(0.0, 0.5, (20, 14)).astype(np.float32)
    bv = rng.normal(-1.0, 1.0, (3, 20)).astype(np.float32)
    bh = rng.normal(0.0, 1.0, (3, 14)).astype(np.float32)
    exact = np.array([RBM.exact_log_partition(W, bv[i], bh[i]) for i in range(3)])
    marginals, samples = ev.sampled_marginals(W, np.zeros_like(bv), bv, bh, 100, 50, [1, 1])
    assert samples.shape == (3, 100, 20) and set(np.unique(samples)) <= {0.0, 1.0}
    run_log_z, states = ev.ais_log_partition(W, bv, bh, ev.base_visible_biases(marginals),
                                             ev.ais_betas(1000), 100, [1, 0])
    assert states.shape == (3, 100, 20) and run_log_z.shape == (3, 100)
    estimate = np.logaddexp.reduce(np.float64(run_log_z), axis=1) - np.log(100)
    np.testing.assert_allclose(estimate, exact, atol=0.05)


def test_ais_is_exact_without_weights():
    # W = 0: units are independent, log Z = sum softplus(bv) + sum softplus(bh), the chains'
    # marginals p(v | h) are sigmoid(bv) whatever h is, so the base model is the RBM's visible part
    # itself and every run carries the same weight.
    W = np.zeros((3, 2), np.float32)
    bv, bh = np.float32([[-2.0, 0.0, 3.0]]), np.float32([[1.0, -1.0]])
    marginals, _ = ev.sampled_marginals(W, np.zeros_like(bv), bv, bh, 6, 3, [0, 0])
    base = ev.base_visible_biases(marginals)
    np.testing.assert_allclose(base, bv, atol=1e-5)
    expected = (np.log1p(np.exp(-2.0)) + np.log(2.0) + np.log1p(np.exp(3.0)) + np.log1p(np.e)
                + np.log1p(1 / np.e))
    run_log_z, _ = ev.ais_log_partition(W, bv, bh, base, ev.ais_betas(10), 4, [0, 0])
    estimate = np.logaddexp.reduce(np.float64(run_log_z), axis=1) - np.log(4)
    np.testing.assert_allclose(estimate, [expected], atol=1e-5)
    np.testing.assert_allclose(run_log_z, np.full((1, 4), expected), atol=1e-5)


def test_found_states_sum_every_distinct_state_once():
    # All 2**8 states of an 8-unit RBM, each listed twice: the sum over distinct states is Z itself.
    rng = np.random.default_rng(3)
    W = rng.normal(0.0, 1.0, (8, 5)).astype(np.float32)
    bv = rng.normal(0.0, 1.0, (2, 8)).astype(np.float32)
    bh = rng.normal(0.0, 1.0, (2, 5)).astype(np.float32)
    every = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float32)
    states = np.stack([np.concatenate([every, every[::-1]]), np.resize(every[:10], (512, 8))])
    bound = ev.found_states_log_partition(W, bv, bh, states)
    exact = [RBM.exact_log_partition(W, bv[i], bh[i]) for i in range(2)]
    np.testing.assert_allclose(bound[0], exact[0], atol=1e-4)
    # Ten states are a strict lower bound, summed by hand.
    ten = -RBM.free_energy(every[:10], W, np.repeat(bv[1:], 10, 0),
                           np.repeat(bh[1:], 10, 0)).numpy()
    np.testing.assert_allclose(bound[1], np.logaddexp.reduce(ten.astype(np.float64)), atol=1e-4)
    assert bound[1] < exact[1]


def test_split_estimate_sums_the_found_states_and_the_runs_outside_them_by_hand():
    # RBM 0: found states {A, B} hold mass 3; two runs with weights 4 and 10 end in A and in C, so
    # only the second counts, and Z = 3 + 10 / 2 = 8. RBM 1: both runs end in found states, so
    # Z is the found mass, 5, whatever their weights.
    A, B, C = np.eye(3, dtype=np.float32)
    found = np.stack([[A, B], [A, C]])
    runs = np.stack([[A, C], [C, A]])
    log_z, share = ev.split_log_partition(np.log([3.0, 5.0]), found,
                                          np.log([[4.0, 10.0], [7.0, 1e6]]), runs)
    np.testing.assert_allclose(log_z, np.log([8.0, 5.0]))
    np.testing.assert_allclose(share, [3.0 / 8.0, 1.0])


def test_split_estimate_of_a_small_rbm_matches_enumeration():
    # A random 16 x 12 RBM whose found states are a third of its 65,536 states, the rest left to
    # 100 runs of AIS at 300 betas; and the same RBM with every state found, which is exact.
    rng = np.random.default_rng(5)
    W = rng.normal(0.0, 0.7, (16, 12)).astype(np.float32)
    bv = rng.normal(-1.0, 1.0, (1, 16)).astype(np.float32)
    bh = rng.normal(0.0, 1.0, (1, 12)).astype(np.float32)
    exact = RBM.exact_log_partition(W, bv[0], bh[0])
    every = ((np.arange(2 ** 16)[:, None] >> np.arange(16)) & 1).astype(np.float32)[None]
    marginals, _ = ev.sampled_marginals(W, np.zeros_like(bv), bv, bh, 100, 50, [4, 1])
    run_log_z, states = ev.ais_log_partition(W, bv, bh, ev.base_visible_biases(marginals),
                                             ev.ais_betas(300), 100, [4, 0])
    run_log_z, states = run_log_z.numpy().astype(np.float64), states.numpy()
    for found in (every[:, ::3], every):
        log_z, share = ev.split_log_partition(ev.found_states_log_partition(W, bv, bh, found),
                                              found, run_log_z, states)
        np.testing.assert_allclose(log_z, [exact], atol=0.05)
        assert 0.0 < share[0] <= 1.0
    assert share[0] == 1.0


def test_log_likelihood_never_puts_more_than_all_mass_on_a_frame():
    # Two far-apart modes: units 0-5 on together, or units 6-11 on together, each set by its own
    # hidden unit with strong weights, each about 20 times as likely as silence. A Gibbs chain in
    # one mode all but never leaves it; the estimate must still count both (measured within 0.04
    # nats at this seed, within 0.2 at seeds 0 to 4).
    W = np.zeros((12, 2), np.float32)
    W[:6, 0] = W[6:, 1] = 6.0
    bv, bh = np.full((1, 12), -3.0, np.float32), np.full((1, 2), -15.0, np.float32)
    exact = RBM.exact_log_partition(W, bv[0], bh[0])
    for frame in (np.r_[np.ones(6), np.zeros(6)], np.r_[np.zeros(6), np.ones(6)]):
        frame = frame[None].astype(np.float32)
        ll, _ = ev.log_likelihoods(W, frame, frame, bv, bh, ev.ais_betas(1000), 100, batch=1,
                                   seed=1)
        true_ll = -RBM.free_energy(frame, W, bv, bh).numpy()[0] - exact
        assert ll[0] <= 0.0
        np.testing.assert_allclose(ll, [true_ll], atol=0.1)


def test_ais_schedule_is_salakhutdinov_and_murrays_at_14500():
    betas = ev.ais_betas(14500)
    assert len(betas) == 14501 and betas[0] == 0.0 and betas[-1] == 1.0
    assert np.all(np.diff(betas) > 0)
    # 500 steps of 0.001 on [0, 0.5], 4000 of 0.0001 on [0.5, 0.9], 10000 of 0.00001 on [0.9, 1].
    assert (betas < 0.5).sum() == 500 and ((betas >= 0.5) & (betas < 0.9)).sum() == 4000
    np.testing.assert_allclose(np.diff(betas)[[0, 600, 5000]], [1e-3, 1e-4, 1e-5], rtol=1e-2)


def test_frame_accuracy_on_a_hand_worked_case():
    # Frame 1: predicted {0, 1}, true {1, 2} -> TP 1 (unit 1), FP 1 (unit 0), FN 1 (unit 2): 1/3.
    # Frame 2: predicted {3}, true {3} -> TP 1: 1. Frame 3: predicted {}, true {0, 4} -> FN 2: 0.
    # Frame 4: silence predicted for silence: nothing to find, nothing wrong: 1.
    predicted = [[1, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    target = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [1, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    np.testing.assert_allclose(ev.frame_accuracies(predicted, target), [1 / 3, 1, 0, 1])
    # the per-step ACC
    assert ev.frame_accuracies(predicted, target).mean() == pytest.approx(7 / 12)
    assert ev.frame_counts(predicted, target) == (2, 1, 3)  # pooled: 2 / 6
    assert ev.accuracy(2, 1, 3) == pytest.approx(2 / 6)
    assert ev.accuracy(0, 0, 0) == 1.0


def three_unit_rbm():
    """An RNN-RBM whose RBMs have 3 visible and 2 hidden units and W = 0: independent units."""
    hp = rnn_rbm.HParams(n_hidden=2, n_hidden_recurrent=2, lowest_note=60, highest_note=63,
                         num_timesteps=1, articulation=False)
    model = rnn_rbm.RnnRbm(hp, seed=0)
    model.distribution.W.assign(tf.zeros([3, 2]))
    return model


def test_sampled_predictions_of_a_nearly_deterministic_rbm():
    # With W = 0 the units are independent: bias +20 is always on, -20 always off. Truth {0, 2}:
    # every sample predicts {0, 1}, so per sample TP 1, FP 1, FN 1; 4 frames x 5 samples.
    model = three_unit_rbm()
    bv = np.tile(np.float32([20.0, 20.0, -20.0]), (4, 1))
    frames = np.tile(np.float32([1, 0, 1]), (4, 1))
    expected, mode, pooled = ev.frame_scores(model.distribution, frames, np.zeros_like(frames),
                                             (bv, np.zeros((4, 2), np.float32)), num_samples=5,
                                             k=3, batch=3)
    np.testing.assert_allclose(expected, [1 / 3] * 4)
    np.testing.assert_allclose(mode, [1 / 3] * 4)  # one prediction per frame
    assert pooled == (20, 20, 20)


def test_mode_and_expected_accuracy_of_independent_units():
    # W = 0: the units are independent, on with probabilities 0.6, 0.4 and 0.9, so the most
    # probable frame is {0, 2} (0.6 x 0.6 x 0.9 = 0.324); 40 samples all miss it with probability
    # 0.676**40 < 2e-7. Truth {1, 2} in every frame: the mode scores TP 1 (unit 2), FP 1 (unit 0)
    # and FN 1 (unit 1), accuracy 1/3. The expected accuracy of a sampled frame is worked out by
    # listing the 8 frames with their probabilities.
    model = three_unit_rbm()
    p = np.float32([0.6, 0.4, 0.9])
    bv = np.tile(np.log(p / (1 - p)), (50, 1))
    frames = np.tile(np.float32([0, 1, 1]), (50, 1))
    predict = ev.make_frame_predictor(model.distribution, 3)
    samples, mode = predict(np.zeros_like(frames), (bv, np.zeros((50, 2), np.float32)), 40, 2)
    assert samples.shape == (50, 40, 3)
    np.testing.assert_array_equal(mode.numpy(), np.tile(np.float32([1, 0, 1]), (50, 1)))
    expected, mode_acc, pooled = ev.frame_scores(model.distribution, frames,
                                                 np.zeros_like(frames),
                                                 (bv, np.zeros((50, 2), np.float32)),
                                                 num_samples=40, k=2, batch=16)
    np.testing.assert_allclose(mode_acc, [1 / 3] * 50)
    exact = 0.0
    for bits in itertools.product((0, 1), repeat=3):
        prob = np.prod([q if b else 1 - q for q, b in zip(p, bits)])
        exact += prob * ev.frame_accuracies(bits, [0, 1, 1])
    assert exact == pytest.approx(0.52)  # .216/2 + .016/2 + .144 + .324/3 + .024/3 + .216 * 2/3
    # 2000 draws of an accuracy in [0, 1] (sd below 0.4): the mean is within 0.03 of the truth.
    assert abs(expected.mean() - exact) < 0.03
    draws = 50 * 40  # the pooled counts per draw: TP 0.4 + 0.9, FP 0.6, FN 0.6 + 0.1 on average
    for count, mean in zip(pooled, (1.3, 0.6, 0.7)):
        assert abs(count / draws - mean) < 0.06


def test_log_likelihood_of_a_sequence_equals_enumeration():
    model = tiny_model()
    roll = np.zeros((4, 88), np.float32)
    roll[0, [39, 43]] = roll[1, [39, 43, 46]] = roll[3, 50] = 1  # frame 2 is silence
    frames, previous, (bv, bh) = ev.conditional_rows(model, [roll, np.zeros((0, 88))])
    assert frames.shape == (4, 88) and bh.shape == (4, 6)
    np.testing.assert_array_equal(previous[1:], roll[:-1])
    W = model.distribution.W.numpy()
    exact = [-float(RBM.free_energy(frames[t:t + 1], W, bv[t:t + 1], bh[t:t + 1])[0])
             - RBM.exact_log_partition(W, bv[t], bh[t]) for t in range(4)]
    estimate, _ = ev.log_likelihoods(W, frames, previous, bv, bh, ev.ais_betas(1000), 100,
                                     batch=3, seed=2)
    np.testing.assert_allclose(estimate, exact, atol=0.05)
    assert abs(np.mean(estimate) - np.mean(exact)) < 0.02  # the figure the script reports


def test_an_exact_distribution_is_scored_with_exact_draws_and_exact_log_likelihoods():
    # The independent units of `test_mode_and_expected_accuracy_of_independent_units` as a plain
    # RNN's distribution: the same mode {0, 2}, the same expected accuracy 0.52, and log p worked
    # out by hand.
    hp = rnn_rbm.HParams(n_hidden=2, n_hidden_recurrent=2, lowest_note=60, highest_note=63,
                         num_timesteps=1, articulation=False, distribution="bernoulli")
    units = rnn_rbm.RnnRbm(hp, seed=0).distribution
    p = np.float32([0.6, 0.4, 0.9])
    bv = np.tile(np.log(p / (1 - p)), (50, 1))
    frames = np.tile(np.float32([0, 1, 1]), (50, 1))
    tf.random.set_seed(1)
    expected, mode_acc, _ = ev.frame_scores(units, frames, np.zeros_like(frames), (bv,),
                                            num_samples=40, k=1, batch=16)
    np.testing.assert_allclose(mode_acc, [1 / 3] * 50)
    assert abs(expected.mean() - 0.52) < 0.03
    ll = ev.exact_log_likelihoods(units, frames, (bv,), batch=7)
    assert ll.shape == (50,) and ll.dtype == np.float64
    np.testing.assert_allclose(ll, np.log(0.4 * 0.4 * 0.9), rtol=1e-5)


def test_conditional_rows_give_one_array_per_bias_of_the_distribution():
    hp = rnn_rbm.paper_hparams(n_hidden=4, n_hidden_recurrent=3, distribution="bernoulli")
    model = rnn_rbm.RnnRbm(hp, seed=1)
    roll = np.zeros((3, 88), np.float32)
    roll[0, 10] = roll[2, [20, 30]] = 1
    frames, previous, biases = ev.conditional_rows(model, [roll, roll[:2]])
    assert frames.shape == previous.shape == (5, 88) and len(biases) == 1
    np.testing.assert_array_equal(frames, np.concatenate([roll, roll[:2]]))
    np.testing.assert_array_equal(previous[[0, 3]], 0)  # each sequence starts from silence
    np.testing.assert_array_equal(previous[[1, 2, 4]], roll[[0, 1, 0]])
    (bv,) = model.conditional_biases(tf.constant(roll[None]))
    # float32 computed in batches of another shape: a few units in the last place apart
    np.testing.assert_allclose(biases[0][:3], bv.numpy()[0], rtol=1e-5)
    np.testing.assert_allclose(biases[0][3:], bv.numpy()[0, :2], rtol=1e-5)
