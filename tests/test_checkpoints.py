"""Checkpoints: what `save` and the epoch manager write, what reads back, and what is refused."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from helpers import SMALL, randomised_model

import checkpoints
import rnn_rbm
import training

NADE = rnn_rbm.HParams(n_hidden=5, n_hidden_recurrent=4, lowest_note=60, highest_note=66,
                       num_timesteps=1, articulation=False, distribution="nade")
BERNOULLI = rnn_rbm.HParams(n_hidden=3, n_hidden_recurrent=4, lowest_note=60, highest_note=65,
                            num_timesteps=1, articulation=False, distribution="bernoulli")


def assert_same_variables(model, other):
    assert len(model.trainable_variables) == len(other.trainable_variables)
    for a, b in zip(model.trainable_variables, other.trainable_variables):
        assert a.name == b.name
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)


def test_checkpoint_round_trip_and_errors(tmp_path):
    model = randomised_model(seed=8)
    prefix = str(tmp_path / "ckpt" / "epoch_3")
    checkpoints.save(prefix, model)
    loaded = checkpoints.load(prefix)
    assert loaded.hparams == SMALL
    assert_same_variables(model, loaded)

    with pytest.raises(checkpoints.CheckpointError, match="no checkpoint there"):
        checkpoints.load(str(tmp_path / "missing"))
    other = rnn_rbm.RnnRbm(rnn_rbm.HParams(n_hidden=7, n_hidden_recurrent=5, lowest_note=60,
                                           highest_note=64, num_timesteps=2))
    with pytest.raises(checkpoints.CheckpointError, match="does not match"):
        checkpoints.restore(prefix, other)
    with open(prefix + ".json", "w") as f:
        json.dump({"n_hidden": 6, "colour": "blue"}, f)
    with pytest.raises(checkpoints.CheckpointError, match="hyperparameters"):
        checkpoints.load(prefix)


def test_save_leaves_no_partial_files_and_keeps_the_run_settings(tmp_path):
    model = randomised_model(seed=1)
    prefix = str(tmp_path / "init")
    checkpoints.save(prefix, model, run={"epochs": 3, "lr": 0.01})
    checkpoints.save(prefix, model, run={"epochs": 4, "lr": 0.01})  # replaces what was there
    assert sorted(os.listdir(tmp_path)) == ["init.data-00000-of-00001", "init.index", "init.json"]
    with open(prefix + ".json") as f:
        stored = json.load(f)
    assert stored == {"model": json.loads(SMALL.to_json()), "run": {"epochs": 4, "lr": 0.01}}
    hparams, run = checkpoints.load_description(prefix)
    assert hparams == SMALL and run == {"epochs": 4, "lr": 0.01}
    assert checkpoints.exists(prefix) and not checkpoints.exists(prefix + ".partial")
    assert_same_variables(model, checkpoints.load(prefix))
    assert checkpoints.latest(prefix) == prefix  # a prefix names itself


def test_checkpoint_keeps_the_distribution_and_v(tmp_path):
    model = randomised_model(seed=4, hparams=NADE)
    prefix = str(tmp_path / "nade")
    checkpoints.save(prefix, model)
    loaded = checkpoints.load(prefix)
    assert type(loaded.distribution).__name__ == "NADE" and loaded.hparams == NADE
    np.testing.assert_array_equal(loaded.distribution.V.numpy(), model.distribution.V.numpy())
    with open(prefix + ".json") as f:
        values = json.load(f)["model"]
    del values["distribution"]  # checkpoints written before the field existed hold RBMs
    assert rnn_rbm.HParams.from_dict(values).distribution == "rbm"
    with pytest.raises(ValueError, match="distribution 'gan': use one of rbm, nade"):
        rnn_rbm.HParams.from_dict(dict(values, distribution="gan"))


class Flat(tf.Module):
    """A model as checkpoints stored it before the distribution had a module of its own: every
    variable an attribute of the model itself."""

    def __init__(self, values):
        super().__init__()
        for name, value in values.items():
            setattr(self, name, tf.Variable(value, name=name))


def flat_values(hparams, rng):
    """Values for every variable the old layout had (W, bh and Wuh even for independent units,
    V for a NADE)."""
    nv, nh, nu = hparams.n_visible, hparams.n_hidden, hparams.n_hidden_recurrent
    shapes = {"W": [nv, nh], "bv": [nv], "bh": [nh], "Wuh": [nu, nh], "Wuv": [nu, nv],
              "Wvu": [nv, nu], "Wuu": [nu, nu], "bu": [nu], "u0": [nu]}
    if hparams.distribution == "nade":
        shapes["V"] = [nv, nh]
    return {name: rng.normal(0, 1, shape).astype(np.float32) for name, shape in shapes.items()}


@pytest.mark.parametrize("hparams", [SMALL, NADE, BERNOULLI], ids=["rbm", "nade", "bernoulli"])
def test_checkpoints_of_the_flat_layout_still_read(tmp_path, hparams):
    values = flat_values(hparams, np.random.default_rng(2))
    prefix = str(tmp_path / "old")
    tf.train.Checkpoint(model=Flat(values)).write(prefix)
    old_json = dict(json.loads(hparams.to_json()), k_train=15, k_generate=25)
    with open(prefix + ".json", "w") as f:
        json.dump(old_json, f)  # the old JSON: the hyperparameters alone, with the run's k
    model = checkpoints.load(prefix)
    assert model.hparams == hparams
    for variable in model.trainable_variables:
        name = variable.name.split(":")[0]
        np.testing.assert_array_equal(variable.numpy(), values[name], err_msg=name)
    assert len(model.trainable_variables) == len(values) - 3 * (hparams == BERNOULLI)
    # A flat checkpoint of other sizes is refused like any other.
    other = rnn_rbm.RnnRbm(rnn_rbm.HParams(**dict(json.loads(hparams.to_json()),
                                                  n_hidden_recurrent=9)))
    with pytest.raises(checkpoints.CheckpointError, match="does not match"):
        checkpoints.restore(prefix, other)


@pytest.mark.parametrize("layout", ["current", "flat"])
def test_a_truncated_data_file_is_a_checkpoint_error(tmp_path, layout):
    prefix = str(tmp_path / "c")
    if layout == "current":
        checkpoints.save(prefix, randomised_model())
    else:
        tf.train.Checkpoint(model=Flat(flat_values(SMALL, np.random.default_rng(3)))).write(prefix)
        with open(prefix + ".json", "w") as f:
            f.write(SMALL.to_json())
    data = prefix + ".data-00000-of-00001"
    size = os.path.getsize(data)
    for length in (size - 1, size // 2, 8, 0):
        with open(data, "r+b") as f:
            f.truncate(length)
        with pytest.raises(checkpoints.CheckpointError, match="does not match the model or is "
                                                              "damaged") as err:
            checkpoints.load(prefix)
        assert str(err.value).startswith(prefix) and "\n" not in str(err.value)


def epoch_run(out_dir, model, lr=0.05):
    """An Adam optimizer, an epoch counter and an epoch manager over `out_dir` for `model`."""
    optimizer = training.make_optimizer("adam", model.trainable_variables, lr)
    epoch = tf.Variable(0, dtype=tf.int64, name="epoch")
    manager = checkpoints.epoch_manager(out_dir, model=model, optimizer=optimizer, epoch=epoch)
    return optimizer, epoch, manager


def test_adam_state_survives_a_checkpoint(tmp_path):
    model = randomised_model(seed=9)
    optimizer, epoch, manager = epoch_run(str(tmp_path / "run"), model, 0.01)
    grads = [tf.ones_like(x) for x in model.trainable_variables]
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    epoch.assign(1)
    prefix = checkpoints.save_epoch(manager, model, 1)
    twin = rnn_rbm.RnnRbm(SMALL)
    twin_opt = training.make_optimizer("adam", twin.trainable_variables, 0.01)
    checkpoints.restore(prefix, twin, optimizer=twin_opt)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    twin_opt.apply_gradients(zip(grads, twin.trainable_variables))
    assert int(twin_opt.iterations) == 2
    for a, b in zip(model.trainable_variables, twin.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_a_resumed_run_continues_exactly_as_an_uninterrupted_one(tmp_path):
    # Independent units: training draws nothing at random, so four steps in one go and two, an
    # epoch checkpoint, a fresh process's model and optimizer, and two more must agree exactly.
    rng = np.random.default_rng(4)
    v = (rng.random((3, 6, BERNOULLI.n_visible)) < 0.4).astype(np.float32)
    mask = np.ones((3, 6), np.float32)

    def steps(model, optimizer, n):
        step = training.make_train_step(model, optimizer, k=1)
        return [float(step(v, mask)) for _ in range(n)]

    straight = rnn_rbm.RnnRbm(BERNOULLI, seed=5)
    straight_opt, _, _ = epoch_run(str(tmp_path / "unused"), straight)
    straight_costs = steps(straight, straight_opt, 4)

    first = rnn_rbm.RnnRbm(BERNOULLI, seed=5)
    first_opt, first_epoch, manager = epoch_run(str(tmp_path / "run"), first)
    costs = steps(first, first_opt, 2)
    first_epoch.assign(2)
    prefix = checkpoints.save_epoch(manager, first, 2, {"lr": 0.05})
    assert prefix == str(tmp_path / "run" / "epoch-2")
    assert checkpoints.latest(str(tmp_path / "run")) == prefix

    resumed = rnn_rbm.RnnRbm(checkpoints.load_hparams(prefix))  # other initial weights
    resumed_opt, resumed_epoch, _ = epoch_run(str(tmp_path / "run"), resumed)
    checkpoints.restore(prefix, resumed, optimizer=resumed_opt, epoch=resumed_epoch)
    assert int(resumed_epoch) == 2 and int(resumed_opt.iterations) == 2
    for a, b in zip(first_opt.variables, resumed_opt.variables):  # step count and both moments
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)
    costs += steps(resumed, resumed_opt, 2)
    assert int(resumed_opt.iterations) == 4
    np.testing.assert_allclose(costs, straight_costs, rtol=1e-6)
    for a, b in zip(straight.trainable_variables, resumed.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.name)
    assert np.abs(straight.distribution.bv.numpy()).max() > 0.05  # the steps moved the weights


def test_set_aside_epochs_moves_an_earlier_run_out_of_the_way(tmp_path):
    out = str(tmp_path / "run")
    assert checkpoints.set_aside_epochs(out) is None  # no folder yet
    model = randomised_model(seed=6)
    _, _, manager = epoch_run(out, model)
    for n in (1, 2):
        checkpoints.save_epoch(manager, model, n)
    (tmp_path / "run" / "notes.txt").write_text("kept")
    moved = checkpoints.set_aside_epochs(out)
    assert moved == os.path.join(out, "earlier-0")
    assert sorted(os.listdir(out)) == ["earlier-0", "notes.txt"]
    assert sorted(os.listdir(moved)) == sorted(
        ["checkpoint"] + [f"epoch-{n}{suffix}" for n in (1, 2)
                          for suffix in (".index", ".data-00000-of-00001", ".json")])
    assert_same_variables(model, checkpoints.load(os.path.join(moved, "epoch-2")))
    with pytest.raises(checkpoints.CheckpointError, match="folder holds no epoch checkpoint"):
        checkpoints.latest(out)
    assert checkpoints.set_aside_epochs(out) is None  # nothing left to move
    _, _, manager = epoch_run(out, model)
    checkpoints.save_epoch(manager, model, 1)
    assert checkpoints.set_aside_epochs(out) == os.path.join(out, "earlier-1")


def test_a_second_run_on_a_locked_folder_is_refused_and_a_dead_runs_lock_is_taken_over(tmp_path):
    folder = str(tmp_path / "run")
    with checkpoints.folder_lock(folder):
        with pytest.raises(checkpoints.CheckpointError, match="another training run"):
            with checkpoints.folder_lock(folder):
                pass
    assert not os.path.exists(os.path.join(folder, "run.lock"))
    with open(os.path.join(folder, "run.lock"), "w") as handle:
        handle.write("999999999\n")  # no such process
    with checkpoints.folder_lock(folder):
        assert open(os.path.join(folder, "run.lock")).read().strip() == str(os.getpid())


def test_a_file_given_as_the_folder_is_refused(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("mine")
    with pytest.raises(checkpoints.CheckpointError, match="is a file, not a folder"):
        with checkpoints.folder_lock(str(path)):
            pass
    assert path.read_text() == "mine"


def test_leftovers_of_a_killed_run_are_removed_and_nothing_else(tmp_path):
    for name in ("epoch-3.json.partial", "checkpoint.tmp1234", "notes.txt", "epoch-2.index"):
        (tmp_path / name).write_text("x")
    (tmp_path / "epoch-3_temp").mkdir()
    (tmp_path / "epoch-3_temp" / "part-00000").write_text("x")
    gone = checkpoints.remove_leftovers(str(tmp_path))
    assert gone == ["checkpoint.tmp1234", "epoch-3.json.partial", "epoch-3_temp"]
    assert sorted(os.listdir(tmp_path)) == ["epoch-2.index", "notes.txt"]


def test_export_keeps_the_model_and_its_run_settings_but_not_the_optimizer(tmp_path):
    model = randomised_model(seed=2)
    optimizer = training.make_optimizer("adam", model.trainable_variables, 1e-3)
    manager = checkpoints.epoch_manager(str(tmp_path / "run"), model=model, optimizer=optimizer)
    source = checkpoints.save_epoch(manager, model, 7, {"key": "c", "k": 15})
    target = str(tmp_path / "pretrained")
    checkpoints.export(source, target)
    assert checkpoints.load_description(target)[1] == {"key": "c", "k": 15}
    names = tf.train.load_checkpoint(target).get_variable_to_shape_map()
    assert not any(name.startswith("optimizer") for name in names)
    for a, b in zip(model.trainable_variables, checkpoints.load(target).trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(checkpoints.CheckpointError, match="already"):
        checkpoints.export(source, target)
