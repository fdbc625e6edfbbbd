"""The RNN-RBM model: conditioning, masking, generation and checkpoints."""
import json

import numpy as np
import pytest
import tensorflow as tf

import RBM
import rnn_rbm

SMALL = rnn_rbm.HParams(n_hidden=6, n_hidden_recurrent=5, lowest_note=60, highest_note=64,
                        num_timesteps=2, articulation=True)  # 16 visible units


def randomised_model(seed=0, hparams=SMALL):
    """A model whose variables are all O(1), so every path of the maths is exercised."""
    model = rnn_rbm.RnnRbm(hparams, seed=seed)
    rng = np.random.default_rng(seed)
    for var in model.trainable_variables:
        var.assign(rng.normal(0, 0.5, var.shape).astype(np.float32))
    return model


def random_frames(rng, batch, time, n_visible):
    return (rng.random((batch, time, n_visible)) < 0.3).astype(np.float32)


def test_biases_match_a_step_by_step_numpy_recurrence():
    model = randomised_model()
    v = random_frames(np.random.default_rng(1), 2, 4, SMALL.n_visible)
    bv_t, bh_t = (x.numpy() for x in model.conditional_biases(tf.constant(v)))
    p = {x.name.split(":")[0]: x.numpy() for x in model.trainable_variables}
    for b in range(2):
        u = p["u0"]
        for t in range(4):
            np.testing.assert_allclose(bv_t[b, t], p["bv"] + u @ p["Wuv"], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(bh_t[b, t], p["bh"] + u @ p["Wuh"], rtol=1e-5, atol=1e-5)
            u = np.tanh(p["bu"] + v[b, t] @ p["Wvu"] + u @ p["Wuu"])


@pytest.mark.parametrize("time_steps, rows", [(1, 1), (7, 3), (19, 10)])
def test_compiled_recurrence_and_its_gradient_match_plain_autodiff(time_steps, rows):
    # Odd sizes are padded inside tanh_recurrence; the states and all three gradients must be those
    # of a step-by-step scan differentiated by TensorFlow.
    rng = np.random.default_rng(time_steps)
    drive = tf.constant(rng.normal(0, 1, (time_steps, rows, 5)).astype(np.float32))
    u_init = tf.constant(rng.normal(0, 0.5, (rows, 5)).astype(np.float32))
    Wuu = tf.constant(rng.normal(0, 0.5, (5, 5)).astype(np.float32))
    weights = tf.constant(rng.normal(0, 1, (time_steps, rows, 5)).astype(np.float32))

    def loss_and_grads(recurrence):
        with tf.GradientTape() as tape:
            tape.watch([drive, u_init, Wuu])
            states = recurrence(drive, u_init, Wuu)
            loss = tf.reduce_sum(tf.sin(states) * weights)
        return states, tape.gradient(loss, [drive, u_init, Wuu])

    def plain(drive, u_init, Wuu):
        return tf.scan(lambda u, x: tf.tanh(x + tf.matmul(u, Wuu)), drive, initializer=u_init)

    states, grads = loss_and_grads(rnn_rbm.tanh_recurrence)
    expected_states, expected_grads = loss_and_grads(plain)
    assert states.shape == (time_steps, rows, 5)
    np.testing.assert_allclose(states, expected_states, rtol=1e-5, atol=1e-6)
    for name, got, expected in zip(["drive", "u_init", "Wuu"], grads, expected_grads):
        assert np.abs(expected).max() > 1e-3, name
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=name)


def test_rbm_at_step_t_does_not_see_frame_t():
    model = randomised_model()
    v = random_frames(np.random.default_rng(2), 1, 5, SMALL.n_visible)
    changed = v.copy()
    changed[0, 2] = 1.0 - changed[0, 2]
    before = [x.numpy() for x in model.conditional_biases(tf.constant(v))]
    after = [x.numpy() for x in model.conditional_biases(tf.constant(changed))]
    for b0, b1 in zip(before, after):
        np.testing.assert_array_equal(b0[:, :3], b1[:, :3])    # steps 0..2 unchanged
        assert np.abs(b0[:, 3] - b1[:, 3]).max() > 1e-3       # step 3 sees frame 2


def test_padding_does_not_change_the_cost():
    model = randomised_model()
    rng = np.random.default_rng(3)
    songs = [random_frames(rng, 1, n, SMALL.n_visible)[0] for n in (3, 5)]
    v, mask = rnn_rbm.pad_batch(songs, SMALL.n_visible)
    k = 2
    noise = (rng.random((k, 8, SMALL.n_hidden)).astype(np.float32),
             rng.random((k, 8, SMALL.n_visible)).astype(np.float32))
    batched = model.free_energy_cost(tf.constant(v), tf.constant(mask), k, noise).numpy()
    # The same 8 frames, computed without padding: cost is the frame-weighted mean.
    parts, start = [], 0
    for s in songs:
        n = len(s)
        part_noise = (noise[0][:, start:start + n], noise[1][:, start:start + n])
        parts.append(n * model.free_energy_cost(tf.constant(s[None]), tf.ones([1, n]), k, part_noise).numpy())
        start += n
    assert np.isclose(batched, sum(parts) / 8, atol=1e-5)


def test_cost_equals_free_energy_difference_by_hand():
    model = randomised_model()
    v = random_frames(np.random.default_rng(4), 1, 3, SMALL.n_visible)
    k = 1
    rng = np.random.default_rng(5)
    noise = (rng.random((k, 3, SMALL.n_hidden)).astype(np.float32),
             rng.random((k, 3, SMALL.n_visible)).astype(np.float32))
    cost = model.free_energy_cost(tf.constant(v), tf.ones([1, 3]), k, noise).numpy()
    bv_t, bh_t = (x.numpy()[0] for x in model.conditional_biases(tf.constant(v)))
    W = model.W.numpy()
    negative = RBM.gibbs_chain(tf.constant(v[0]), W, bv_t, bh_t, k, noise).numpy()
    fe = lambda x: -(x * bv_t).sum(1) - np.logaddexp(0, x @ W + bh_t).sum(1)
    assert np.isclose(cost, np.mean(fe(v[0]) - fe(negative)), atol=1e-5)


def test_train_step_traces_once_and_lowers_the_cost():
    tf.random.set_seed(6)
    model = rnn_rbm.RnnRbm(SMALL, seed=6)
    optimizer = rnn_rbm.make_optimizer("adam", model.trainable_variables, 0.05)
    step = rnn_rbm.make_train_step(model, optimizer)
    rng = np.random.default_rng(6)
    pattern = (rng.random((4, SMALL.n_visible)) < 0.3).astype(np.float32)
    songs = [np.tile(pattern, (n, 1)) for n in (3, 4, 6)]  # a repeating, learnable sequence
    initial = None
    for epoch in range(60):
        for length in (1, 2, 3):
            v, mask = rnn_rbm.pad_batch(songs[:length], SMALL.n_visible)
            cost = float(step(v, mask))
            initial = cost if initial is None else initial
    assert step.experimental_get_tracing_count() == 1
    frames = np.concatenate(songs)
    bv_t, bh_t = model.conditional_biases(tf.constant(frames[None]))
    free = RBM.free_energy(frames, model.W, bv_t[0], bh_t[0]).numpy()
    assert free.mean() < -5.0  # the data frames became likely under their conditional RBMs


def test_dropout_keeps_the_expected_biases_and_is_off_by_default():
    tf.random.set_seed(7)
    model = randomised_model(7)
    # No recurrence and a tiny input projection: u_t = tanh(v_t Wvu) is linear in the kept inputs,
    # so the biases' mean over many dropped-out copies is the biases without dropout.
    model.Wuu.assign(tf.zeros_like(model.Wuu))
    model.Wvu.assign(model.Wvu * 1e-3)
    v = random_frames(np.random.default_rng(7), 1, 3, SMALL.n_visible)
    plain = [x.numpy()[0] for x in model.conditional_biases(tf.constant(v))]
    for a, b in zip(plain, model.conditional_biases(tf.constant(v), 0.0)):
        np.testing.assert_array_equal(a, b.numpy()[0])
    copies = tf.constant(np.repeat(v, 20000, axis=0))
    dropped = [x.numpy() for x in model.conditional_biases(copies, 0.3)]
    for clean, noisy, bias in zip(plain, dropped, (model.bv.numpy(), model.bh.numpy())):
        # step 1 reads u0 (dropped too); steps 2 and 3 read states made from dropped inputs
        assert noisy.std(axis=0).min() > 0.01
        np.testing.assert_allclose(noisy.mean(axis=0) - bias, clean - bias, rtol=0.05,
                                   atol=0.02 * np.abs(clean - bias).max())


def test_train_step_with_dropout_is_repeatable_and_differs_from_without():
    v = random_frames(np.random.default_rng(8), 3, 5, SMALL.n_visible)
    mask = np.ones([3, 5], np.float32)

    def first_costs(dropout):
        tf.random.set_seed(8)
        model = rnn_rbm.RnnRbm(SMALL, seed=8)
        optimizer = rnn_rbm.make_optimizer("adam", model.trainable_variables, 0.05)
        step = rnn_rbm.make_train_step(model, optimizer, dropout=dropout)
        return [float(step(v, mask)) for _ in range(3)]

    with_dropout = first_costs(0.5)
    assert with_dropout == first_costs(0.5)
    # compared from the second step on, once updates made under dropout have moved the weights
    assert with_dropout[1:] != first_costs(0.0)[1:]


def test_generate_shapes_values_and_single_trace():
    model = randomised_model(hparams=SMALL)
    sampler = rnn_rbm.make_sampler(model)
    rng = np.random.default_rng(7)
    out = sampler(tf.constant(7), tf.constant(random_frames(rng, 3, 4, SMALL.n_visible))).numpy()
    assert out.shape == (3, 7, SMALL.n_visible)
    assert set(np.unique(out)) <= {0.0, 1.0}
    out = sampler(tf.constant(5), tf.zeros([2, 0, SMALL.n_visible])).numpy()
    assert out.shape == (2, 5, SMALL.n_visible)
    assert sampler.experimental_get_tracing_count() == 1


def test_generation_uses_the_primer():
    """A model whose RNN copies the last frame into the visible bias repeats the primer's frame."""
    hp = rnn_rbm.HParams(n_hidden=2, n_hidden_recurrent=4, lowest_note=60, highest_note=64,
                         num_timesteps=1, articulation=False)
    model = rnn_rbm.RnnRbm(hp, seed=0)
    model.W.assign(tf.zeros_like(model.W))
    model.Wvu.assign(tf.eye(4) * 20.0)          # u_t ~ sign(v_t): +1 where the note sounds
    model.bu.assign(-10.0 * tf.ones(4))
    model.Wuv.assign(tf.eye(4) * 20.0)          # bias +20 on sounding notes, -20 elsewhere
    model.bv.assign(tf.zeros(4))
    primer = np.array([[[0, 0, 0, 0], [1, 0, 1, 0]]], np.float32)
    out = rnn_rbm.make_sampler(model)(tf.constant(4), tf.constant(primer)).numpy()
    np.testing.assert_array_equal(out[0], np.tile([1, 0, 1, 0], (4, 1)))


def test_checkpoint_round_trip_and_errors(tmp_path):
    model = randomised_model(seed=8)
    prefix = str(tmp_path / "ckpt" / "epoch_3")
    rnn_rbm.save(prefix, model)
    loaded = rnn_rbm.load(prefix)
    assert loaded.hparams == SMALL
    for a, b in zip(model.trainable_variables, loaded.trainable_variables):
        assert a.name == b.name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert rnn_rbm.epoch_checkpoints(str(tmp_path / "ckpt")) == {3: prefix}

    with pytest.raises(rnn_rbm.CheckpointError, match="no checkpoint there"):
        rnn_rbm.load(str(tmp_path / "missing"))
    other = rnn_rbm.RnnRbm(rnn_rbm.HParams(n_hidden=7, n_hidden_recurrent=5, lowest_note=60,
                                           highest_note=64, num_timesteps=2))
    with pytest.raises(rnn_rbm.CheckpointError, match="does not match"):
        rnn_rbm.restore(prefix, other)
    with open(prefix + ".json", "w") as f:
        json.dump({"n_hidden": 6, "colour": "blue"}, f)
    with pytest.raises(rnn_rbm.CheckpointError, match="hyperparameters"):
        rnn_rbm.load(prefix)


def test_adam_state_survives_a_checkpoint(tmp_path):
    model = randomised_model(seed=9)
    optimizer = rnn_rbm.make_optimizer("adam", model.trainable_variables, 0.01)
    grads = [tf.ones_like(x) for x in model.trainable_variables]
    optimizer.apply(grads, model.trainable_variables)
    rnn_rbm.save(str(tmp_path / "c"), model, optimizer=optimizer)
    twin = rnn_rbm.RnnRbm(SMALL)
    twin_opt = rnn_rbm.make_optimizer("adam", twin.trainable_variables, 0.01)
    rnn_rbm.restore(str(tmp_path / "c"), twin, optimizer=twin_opt)
    optimizer.apply(grads, model.trainable_variables)
    twin_opt.apply(grads, twin.trainable_variables)
    assert int(twin_opt.step) == 2
    for a, b in zip(model.trainable_variables, twin.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_chunks_and_batches_cover_every_frame_once():
    songs = [np.full((n, 3), n, np.float32) for n in (5, 12, 1)]
    chunks = rnn_rbm.split_into_chunks(songs, 4)
    assert [len(c) for c in chunks] == [4, 1, 4, 4, 4, 1]
    total = 0
    for v, mask in rnn_rbm.batches(chunks, 4, np.random.default_rng(0)):
        assert v.shape[:2] == mask.shape
        total += mask.sum()
        assert (v[mask == 0] == 0).all()
    assert total == 18


def test_transposition_moves_each_sequence_as_a_whole_and_stays_on_the_keyboard():
    v = np.zeros((3, 4, 88), np.float32)
    v[0, 0, [40, 44, 47]] = v[0, 2, 52] = 1   # room both ways
    v[1, 1, [85, 87]] = 1                      # at the top: can only go down
    # sequence 2 is silence (padding): stays zero
    rng = np.random.default_rng(0)
    shifts = {0: set(), 1: set()}
    for _ in range(200):
        out = rnn_rbm.transpose_batch(v, 5, rng)
        assert out.shape == v.shape and not out[2].any()
        for b in (0, 1):
            assert out[b].sum() == v[b].sum()
            shift = int(np.flatnonzero(out[b].any(0))[0] - np.flatnonzero(v[b].any(0))[0])
            np.testing.assert_array_equal(np.roll(v[b], shift, axis=1), out[b])  # same shift for every frame
            shifts[b].add(shift)
    assert shifts[0] == set(range(-5, 6)) and shifts[1] == set(range(-5, 1))


def test_training_refuses_transposition_of_midi_vectors(tmp_path):
    import rnn_rbm_train
    rnn_rbm.save(str(tmp_path / "init"), randomised_model())
    with pytest.raises(SystemExit, match=r"init: --transpose needs one unit per key"):
        rnn_rbm_train.main(["1", "--init", str(tmp_path / "init"), "--out-dir", str(tmp_path / "out"),
                            "--transpose", "3"])
