"""Tests for the plain RNN (`distribution="bernoulli"`): each step's units are independent given
u_{t-1}, the paper's RNN baseline; its probabilities, draws, training and the scripts."""
import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

import rnn_rbm
import rnn_rbm_evaluate as ev
import rnn_rbm_generate
import rnn_rbm_train
import weight_initializations

SMALL = rnn_rbm.HParams(n_hidden=3, n_hidden_recurrent=4, lowest_note=60, highest_note=65,
                        num_timesteps=1, articulation=False, distribution="bernoulli")


def test_log_prob_is_a_product_of_independent_units_and_sums_to_one():
    bv = np.float32([[1.5, -2.0, 0.0, 0.3, -0.7], [-1.0, 2.5, 0.2, -3.0, 1.0]])
    frames = np.array(list(itertools.product([0, 1], repeat=5)), np.float32)
    for row in bv:
        p = 1 / (1 + np.exp(-row.astype(np.float64)))
        by_hand = [np.sum(np.log(np.where(f > 0, p, 1 - p))) for f in frames]
        log_p = rnn_rbm.bernoulli_log_prob(frames, np.tile(row, (32, 1))).numpy()
        np.testing.assert_allclose(log_p, by_hand, rtol=1e-5)
        assert np.exp(log_p.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-5)


def test_draws_follow_the_unit_probabilities():
    tf.random.set_seed(3)
    bv = np.tile(np.float32([2.0, -1.0, 0.0, -4.0]), (20000, 1))
    v, log_p = rnn_rbm.bernoulli_sample(bv)
    # Each frequency is a mean of 20000 draws: sd below 0.0036, so 0.015 is over 4 sd.
    np.testing.assert_allclose(v.numpy().mean(0), 1 / (1 + np.exp(-bv[0])), atol=0.015)
    np.testing.assert_allclose(log_p.numpy(), rnn_rbm.bernoulli_log_prob(v, bv).numpy())


def test_training_lowers_the_nll_and_leaves_the_unused_weights_alone():
    model = rnn_rbm.RnnRbm(SMALL, seed=1)
    W, bh = model.W.numpy(), model.bh.numpy()
    step = rnn_rbm.make_train_step(model, rnn_rbm.make_optimizer("adam", model.trainable_variables, 0.05))
    v = np.zeros((2, 8, 5), np.float32)
    v[:, ::2, [0, 2]] = 1  # alternating chords: predictable from the previous step
    v[:, 1::2, [3]] = 1
    mask = np.ones((2, 8), np.float32)
    first = float(step(v, mask))
    for _ in range(150):
        last = float(step(v, mask))
    assert first == pytest.approx(5 * np.log(2), abs=0.05)  # all logits near 0: every unit a coin
    assert last < 0.5
    np.testing.assert_array_equal(model.W.numpy(), W)
    np.testing.assert_array_equal(model.bh.numpy(), bh)
    assert float(model.negative_log_likelihood(v, mask)) == pytest.approx(last, abs=0.1)


def test_zero_sizes_are_refused():
    with pytest.raises(ValueError, match="n_hidden = 0: it must be at least 1"):
        rnn_rbm.HParams(n_hidden=0)
    with pytest.raises(ValueError, match="highest_note 60 must be above lowest_note 60"):
        rnn_rbm.HParams(lowest_note=60, highest_note=60)


TINY = {"train": [[[60, 64, 67], [62, 65, 69], [60, 64, 67], [62, 65, 69]] * 3, [[60, 64], [62, 65]] * 4],
        "valid": [[[60, 64, 67], [62, 65, 69]] * 2],
        "test": [[[60, 64, 67], [62, 65, 69], [60, 64, 67]]]}


def test_scripts_pretrain_train_score_and_generate_a_plain_rnn(tmp_path, capsys):
    data = tmp_path / "nottingham_tiny.json"
    data.write_text(json.dumps(TINY))
    init, out = str(tmp_path / "init"), str(tmp_path / "run")
    weight_initializations.main(["--dataset", str(data), "--distribution", "bernoulli", "--epochs", "30",
                                 "--lr", "0.5", "--n_hidden_recurrent", "6", "--out", init])
    # Pre-training fits bv alone, one step per song: each unit's probability settles where the two
    # songs' pulls cancel, the mean of its frequency in each song: 0.5 for pitch 64 (on in half the
    # frames of both), about 0.25 for 67 (half of the first song, none of the second), near 0 for
    # the lowest key.
    model = rnn_rbm.load(init)
    assert model.hparams.distribution == "bernoulli" and model.is_exact and not model.is_nade
    p = 1 / (1 + np.exp(-model.bv.numpy()))
    assert p[64 - 21] == pytest.approx(0.5, abs=0.03) and p[67 - 21] == pytest.approx(0.25, abs=0.04)
    assert p[0] < 0.05
    rnn_rbm_train.main(["15", "--dataset", str(data), "--init", init, "--out-dir", out, "--save-every", "15",
                        "--lr", "0.01"])
    capsys.readouterr()
    ll, acc, acc_mode = ev.main([out + "/epoch_15", "--dataset", str(data), "--acc-samples", "200"])
    printed = capsys.readouterr().out
    assert "exact: each step is independent units" in printed and "paper RNN (HF)" in printed
    assert "-3.89" in printed and "66.64" in printed
    model = rnn_rbm.load(out + "/epoch_15")
    roll = np.zeros((3, 88), np.float32)
    for t, pitches in enumerate(TINY["test"][0]):
        roll[t, [q - 21 for q in pitches]] = 1
    frames, _, bv, _ = ev.conditional_rows(model, [roll])
    p = 1 / (1 + np.exp(-bv.astype(np.float64)))
    exact = np.mean(np.sum(np.log(np.where(frames > 0, p, 1 - p)), axis=1))
    assert ll == pytest.approx(exact, abs=1e-4) and ll > -88 * np.log(2)
    assert 0.0 <= acc <= acc_mode <= 1.0  # a peaked model: its mode beats its draws
    rnn_rbm_generate.main([out + "/epoch_15", "--no-primer", "--out", str(tmp_path / "music"), "--num", "1",
                           "--steps", "12"])
    assert len(list((tmp_path / "music").glob("*.mid"))) == 1
