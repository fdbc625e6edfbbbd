"""Tests for the RNN-NADE: the NADE's exact probabilities and draws, the model built on them, and
the scripts with --distribution nade."""
import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

import rnn_rbm
import rnn_rbm_evaluate as ev
import rnn_rbm_train
import weight_initializations

# Six keys, one frame per step, no articulation half: small enough to enumerate all 64 frames.
SMALL = rnn_rbm.HParams(n_hidden=5, n_hidden_recurrent=4, lowest_note=60, highest_note=66,
                        num_timesteps=1, articulation=False, distribution="nade")
ALL_FRAMES = np.array(list(itertools.product([0, 1], repeat=6)), np.float32)


def random_nade(rng, n_visible=6, n_hidden=5, rows=1):
    """W, V, bv, bh of `rows` NADEs with weights large enough to make the units depend on each other."""
    return (rng.normal(0, 1.5, (n_visible, n_hidden)).astype(np.float32),
            rng.normal(0, 1.5, (n_visible, n_hidden)).astype(np.float32),
            rng.normal(-1, 1, (rows, n_visible)).astype(np.float32),
            rng.normal(0, 1, (rows, n_hidden)).astype(np.float32))


def log_prob_by_hand(v, W, V, bv, bh):
    """The NADE's definition, one unit at a time, in float64."""
    total, a = 0.0, bh.astype(np.float64)
    for i in range(len(v)):
        p = 1 / (1 + np.exp(-(bv[i] + (1 / (1 + np.exp(-a))) @ V[i])))
        total += np.log(p if v[i] else 1 - p)
        a = a + v[i] * W[i]
    return total


def test_log_prob_follows_the_definition_and_sums_to_one():
    rng = np.random.default_rng(0)
    W, V, bv, bh = random_nade(rng, rows=2)
    for row in range(2):
        log_p = rnn_rbm.nade_log_prob(ALL_FRAMES, W, V, np.repeat(bv[row:row + 1], 64, 0),
                                      np.repeat(bh[row:row + 1], 64, 0)).numpy()
        assert np.exp(log_p.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-5)
        for k in (0, 5, 37, 63):
            assert log_p[k] == pytest.approx(log_prob_by_hand(ALL_FRAMES[k], W, V, bv[row], bh[row]), abs=1e-4)


def test_draws_follow_the_probabilities_and_carry_their_log_prob():
    rng = np.random.default_rng(1)
    W, V, bv, bh = random_nade(rng, n_visible=4, n_hidden=3)
    n = 40000
    tf.random.set_seed(3)
    v, log_p = rnn_rbm.nade_sample(W, V, np.repeat(bv, n, 0), np.repeat(bh, n, 0))
    v, log_p = v.numpy(), log_p.numpy()
    np.testing.assert_allclose(log_p, rnn_rbm.nade_log_prob(v, W, V, np.repeat(bv, n, 0), np.repeat(bh, n, 0)),
                               atol=1e-4)
    states = np.array(list(itertools.product([0, 1], repeat=4)), np.float32)
    exact = np.exp(rnn_rbm.nade_log_prob(states, W, V, np.repeat(bv, 16, 0), np.repeat(bh, 16, 0)).numpy())
    counts = np.bincount((v @ (2 ** np.arange(3, -1, -1))).astype(int), minlength=16) / n
    # 40000 draws: a frequency's standard deviation is at most 0.0025.
    np.testing.assert_allclose(counts, exact, atol=0.012)


def randomised_model(seed):
    model = rnn_rbm.RnnRbm(SMALL, seed=seed)
    rng = np.random.default_rng(seed)
    for var in model.trainable_variables:
        var.assign(rng.normal(0, 0.7, var.shape).astype(np.float32))
    return model


def test_cost_is_the_exact_negative_log_likelihood_of_each_step_given_the_past():
    model = randomised_model(seed=2)
    rng = np.random.default_rng(5)
    v = (rng.random((2, 4, 6)) < 0.4).astype(np.float32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], np.float32)
    v[1, 2:] = 0
    p = {var.name.split(":")[0]: var.numpy().astype(np.float64) for var in model.trainable_variables}
    total = []
    for b, length in ((0, 4), (1, 2)):
        u = p["u0"]
        for t in range(length):  # the NADE at step t sees u_{t-1} only
            total.append(log_prob_by_hand(v[b, t], p["W"], p["V"], p["bv"] + u @ p["Wuv"], p["bh"] + u @ p["Wuh"]))
            u = np.tanh(p["bu"] + v[b, t] @ p["Wvu"] + u @ p["Wuu"])
    cost = float(model.training_cost(tf.constant(v), tf.constant(mask)))
    assert cost == pytest.approx(-np.mean(total), abs=1e-4)


def test_train_step_lowers_the_negative_log_likelihood():
    model = rnn_rbm.RnnRbm(SMALL, seed=0)
    optimizer = rnn_rbm.make_optimizer("adam", model.trainable_variables, 0.05)
    step = rnn_rbm.make_train_step(model, optimizer)
    v = np.zeros((3, 8, 6), np.float32)
    v[:, ::2, [0, 2]] = 1  # alternating chords: predictable from the previous step
    v[:, 1::2, [3, 5]] = 1
    mask = np.ones((3, 8), np.float32)
    first = float(step(v, mask))
    for _ in range(60):
        last = float(step(v, mask))
    assert first == pytest.approx(6 * np.log(2), abs=0.1)  # small weights: every unit near a coin
    assert last < 1.0


def test_checkpoint_keeps_the_distribution_and_v(tmp_path):
    model = randomised_model(seed=4)
    prefix = str(tmp_path / "nade")
    rnn_rbm.save(prefix, model)
    loaded = rnn_rbm.load(prefix)
    assert loaded.is_nade and loaded.hparams == SMALL
    np.testing.assert_array_equal(loaded.V.numpy(), model.V.numpy())
    with open(prefix + ".json") as f:
        values = json.load(f)
    del values["distribution"]  # checkpoints written before the field existed hold RBMs
    assert rnn_rbm.HParams.from_dict(values).distribution == "rbm"
    with pytest.raises(ValueError, match="distribution 'gan': use one of rbm, nade"):
        rnn_rbm.HParams.from_dict(dict(values, distribution="gan"))


def test_generation_draws_binary_frames():
    model = randomised_model(seed=6)
    songs = rnn_rbm.make_sampler(model)(tf.constant(7), tf.zeros([3, 2, 6])).numpy()
    assert songs.shape == (3, 7, 6)
    assert set(np.unique(songs)) <= {0.0, 1.0}


TINY = {"train": [[[60, 64, 67], [62, 65, 69], [60, 64, 67], [62, 65, 69]] * 3, [[60, 64], [62, 65]] * 4],
        "valid": [[[60, 64, 67], [62, 65, 69]] * 2],
        "test": [[[60, 64, 67], [62, 65, 69], [60, 64, 67]], [[]]]}


def test_scripts_pretrain_train_and_score_an_rnn_nade(tmp_path, capsys):
    data = tmp_path / "jsb_tiny.json"
    data.write_text(json.dumps(TINY))
    init, out = str(tmp_path / "init"), str(tmp_path / "run")
    common = ["--n_hidden", "8", "--n_hidden_recurrent", "6", "--seed", "0"]
    weight_initializations.main(["--dataset", str(data), "--distribution", "nade", "--epochs", "1",
                                 "--out", str(tmp_path / "one")] + common)
    weight_initializations.main(["--dataset", str(data), "--distribution", "nade", "--epochs", "40",
                                 "--out", init] + common)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("NLL per vector")]
    after_one, after_forty = (float(line.split()[3]) for line in printed)
    assert after_forty < after_one < 88 * np.log(2)
    assert rnn_rbm.load(init).is_nade

    rnn_rbm_train.main(["20", "--dataset", str(data), "--init", init, "--out-dir", out, "--save-every", "20"])
    model = rnn_rbm.load(out + "/epoch_20")
    ll, acc, acc_mode = ev.main([out + "/epoch_20", "--dataset", str(data), "--acc-samples", "20"])
    printed = capsys.readouterr().out
    assert "exact: each step is a NADE" in printed and "paper RNN-NADE (HF)" in printed and "-5.56" in printed
    frames, _, bv, bh = ev.conditional_rows(model, [np.asarray(_roll(s)) for s in TINY["test"]])
    exact = rnn_rbm.nade_log_prob(frames, model.W, model.V, bv, bh).numpy().mean()
    assert ll == pytest.approx(exact, abs=1e-5) and ll > -88 * np.log(2)
    assert 0.0 <= acc <= 1.0 and 0.0 <= acc_mode <= 1.0


def _roll(steps):
    """An 88-key piano roll of a benchmark sequence."""
    roll = np.zeros((len(steps), 88), np.float32)
    for t, pitches in enumerate(steps):
        roll[t, [p - 21 for p in pitches]] = 1
    return roll
