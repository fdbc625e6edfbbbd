"""The scripts end to end, on a few small songs and a tiny benchmark in temporary folders."""
import json
import os
import shutil

import mido
import numpy as np
import pytest
import tensorflow as tf
from helpers import tensorboard_tags, write_chord_songs

import checkpoints
import distributions
import evaluation
import midi_manipulation
import rnn_rbm
import rnn_rbm_evaluate
import rnn_rbm_generate
import rnn_rbm_train
import weight_initializations


def epochs_in(folder):
    """The epoch checkpoints the manager's state file lists in `folder`, oldest first."""
    return [os.path.basename(p) for p in checkpoints.epoch_manager(folder).checkpoints]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    data, ckpt = str(root / "songs"), str(root / "ckpt")
    write_chord_songs(data)
    init = os.path.join(ckpt, "initialized")
    weight_initializations.main(["--data", data, "--out", init, "--epochs", "3"])
    rnn_rbm_train.main(["3", "--data", data, "--init", init, "--out-dir", ckpt, "--save-every", "2",
                        "--k", "2"])
    return root, data, ckpt, init


def test_training_writes_epoch_checkpoints_with_hyperparameters(trained):
    root, data, ckpt, init = trained
    assert epochs_in(ckpt) == ["epoch-2", "epoch-3"]
    with open(os.path.join(ckpt, "epoch-3.json")) as f:
        stored = json.load(f)
    assert stored["model"]["n_hidden"] == 150 and stored["run"]["k"] == 2
    assert stored["model"]["num_timesteps"] == 4
    assert not [name for name in os.listdir(ckpt) if "partial" in name or name.endswith(".lock")]


def test_resume_continues_from_the_last_epoch(trained, capsys):
    root, data, ckpt, init = trained
    rnn_rbm_train.main(["4", "--resume", "--data", data, "--out-dir", ckpt, "--save-every", "2"])
    out = capsys.readouterr().out
    assert f"resuming from {os.path.join(ckpt, 'epoch-3')} (epoch 3)" in out
    assert "epoch 4/4" in out and "epoch 3/4" not in out
    assert epochs_in(ckpt) == ["epoch-2", "epoch-3", "epoch-4"]


def test_generation_writes_songs_with_notes_and_never_overwrites(trained, capsys):
    root, data, ckpt, init = trained
    out = str(root / "music")
    args = [os.path.join(ckpt, "epoch-3"), "--data", data, "--out-dir", out, "--num", "2",
            "--steps", "30", "--seed", "1"]
    rnn_rbm_generate.main(args)
    rnn_rbm_generate.main(args)
    names = sorted(os.listdir(out))
    assert names == ["epoch-3_0.mid", "epoch-3_1.mid", "epoch-3_2.mid", "epoch-3_3.mid"]
    printed = capsys.readouterr().out
    for name in names:
        midi = mido.MidiFile(os.path.join(out, name))
        notes = [m for m in midi if m.type == "note_on" and m.velocity > 0]
        assert len(notes) > 0
        assert f"{os.path.join(out, name)}  ({len(notes)} notes)" in printed
        assert midi_manipulation.midiToNoteStateMatrix(os.path.join(out, name)).shape[0] <= 30 * 5


def test_generation_from_a_folder_takes_the_latest_epoch(trained):
    root, data, ckpt, init = trained
    rnn_rbm_generate.main([ckpt, "--data", data, "--out-dir", str(root / "latest"), "--num", "1",
                           "--steps", "5", "--no-primer"])
    names = os.listdir(str(root / "latest"))
    assert names[0].startswith("epoch-")
    assert names == [os.path.basename(checkpoints.latest(ckpt)) + "_0.mid"]


def test_free_path_skips_every_taken_name(tmp_path):
    (tmp_path / "song_0.mid").write_text("")
    (tmp_path / "song_1.png").write_text("")
    assert rnn_rbm_generate.free_path(str(tmp_path), "song") == str(tmp_path / "song_2")
    assert rnn_rbm_generate.free_path(str(tmp_path), "other") == str(tmp_path / "other_0")


def test_bad_inputs_exit_with_one_line(trained, tmp_path):
    root, data, ckpt, init = trained
    cases = [
        (rnn_rbm_generate.main, [str(tmp_path / "nope")], "no checkpoint there"),
        (rnn_rbm_train.main, ["2", "--data", data, "--init", str(tmp_path / "nope"),
                              "--out-dir", str(tmp_path / "o")], "no checkpoint there"),
        (rnn_rbm_train.main, ["9", "--data", data, "--init", init, "--out-dir", ckpt], "--resume"),
        (rnn_rbm_train.main, ["2", "--resume", "--data", data, "--out-dir", str(tmp_path)],
         "no epoch checkpoint"),
        (weight_initializations.main, ["--data", str(tmp_path / "empty"),
                                       "--out", str(tmp_path / "i")], "folder not found"),
        (weight_initializations.main, ["--data", data, "--out", init], "--force"),
    ]
    for main, argv, needle in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        message = str(exit_info.value.code)
        assert message.startswith("error: ") and "\n" not in message
        assert needle in message, message


BAD_FLAGS = [
    (rnn_rbm_train, ["--lr", "nan"], "--lr"),
    (rnn_rbm_train, ["--k", "0"], "--k"),
    (rnn_rbm_train, ["--batch-size", "-1"], "--batch-size"),
    (rnn_rbm_train, ["--chunk-length", "-5"], "--chunk-length"),
    (rnn_rbm_train, ["--grad-clip", "-1"], "--grad-clip"),
    (rnn_rbm_train, ["--dropout", "1"], "--dropout"),
    (rnn_rbm_train, ["0"], "num_epochs"),
    (weight_initializations, ["--epochs", "0"], "--epochs"),
    (weight_initializations, ["--lr", "inf"], "--lr"),
    (weight_initializations, ["--n-hidden", "0"], "--n-hidden"),
    (rnn_rbm_generate, ["CKPT", "--steps", "0"], "--steps"),
    (rnn_rbm_generate, ["CKPT", "--num", "0"], "--num"),
    (rnn_rbm_generate, ["CKPT", "--num", "1001"], "--num"),
    (rnn_rbm_generate, ["CKPT", "--prime-length", "-5"], "--prime-length"),
    (rnn_rbm_evaluate, ["CKPT", "--dataset", "d.json", "--ais-runs", "1"], "--ais-runs"),
    (rnn_rbm_evaluate, ["CKPT", "--dataset", "d.json", "--acc-gibbs", "0"], "--acc-gibbs"),
]


@pytest.mark.parametrize("script, argv, flag", BAD_FLAGS,
                         ids=[f"{s.__name__} {' '.join(a)}" for s, a, _ in BAD_FLAGS])
def test_bad_flags_stop_before_any_work_with_one_error_line(tmp_path, capsys, script, argv, flag):
    out = str(tmp_path / "out")
    argv = [str(tmp_path / "ckpt") if a == "CKPT" else a for a in argv]
    where = {rnn_rbm_train: ["--out-dir", out], weight_initializations: ["--out", out],
             rnn_rbm_generate: ["--out-dir", out], rnn_rbm_evaluate: []}[script]
    with pytest.raises(SystemExit) as exit_info:
        script.main(argv + where)
    assert exit_info.value.code == 2
    printed = capsys.readouterr()
    errors = [line for line in printed.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and flag in errors[0], printed.err
    assert printed.err.splitlines()[-1] == errors[0]
    assert printed.out == "" and os.listdir(tmp_path) == []  # nothing made, nothing loaded


@pytest.fixture(scope="module")
def plain_rnn_init(tmp_path_factory):
    """A plain RNN (independent units) pre-trained on small songs: training draws nothing at
    random, so runs of it can be compared exactly."""
    root = tmp_path_factory.mktemp("plain")
    data, init = str(root / "songs"), str(root / "init")
    write_chord_songs(data)
    weight_initializations.main(["--data", data, "--out", init, "--epochs", "2",
                                 "--distribution", "bernoulli", "--n-hidden-recurrent", "6"])
    return data, init


def test_a_resumed_training_run_ends_where_an_uninterrupted_one_does(plain_rnn_init, tmp_path):
    data, init = plain_rnn_init
    common = ["--data", data, "--init", init, "--lr", "0.01", "--dropout", "0",
              "--self-feed", "0"]  # no random draws, so the two runs can agree exactly
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    rnn_rbm_train.main(["3"] + common + ["--out-dir", straight])
    rnn_rbm_train.main(["1"] + common + ["--out-dir", split, "--save-every", "1"])
    rnn_rbm_train.main(["3", "--resume", "--save-every", "5"] + common + ["--out-dir", split])
    a = tf.train.load_checkpoint(os.path.join(straight, "epoch-3"))
    b = tf.train.load_checkpoint(os.path.join(split, "epoch-3"))
    names = sorted(a.get_variable_to_shape_map())
    assert names == sorted(b.get_variable_to_shape_map())
    moments = [n for n in names if n.startswith("optimizer/_variables/")]
    assert len(moments) == 2 * 6  # Adam's two for each of the plain RNN's six variables
    assert int(b.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")) == 3  # a batch
    assert int(b.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE")) == 3                # an epoch
    for name in names:
        if name != "_CHECKPOINTABLE_OBJECT_GRAPH":
            np.testing.assert_array_equal(a.get_tensor(name), b.get_tensor(name), err_msg=name)


def test_resume_skips_a_newest_checkpoint_without_its_hyperparameters(plain_rnn_init, tmp_path,
                                                                      capsys):
    data, init = plain_rnn_init
    out = str(tmp_path / "run")
    rnn_rbm_train.main(["2", "--data", data, "--init", init, "--out-dir", out, "--save-every", "1"])
    os.remove(os.path.join(out, "epoch-2.json"))
    capsys.readouterr()
    rnn_rbm_train.main(["3", "--resume", "--data", data, "--out-dir", out, "--save-every", "1"])
    printed = capsys.readouterr()
    skipped = [line for line in printed.err.splitlines() if line.startswith("skipping")]
    assert len(skipped) == 1
    assert f"{os.path.join(out, 'epoch-2')}: cannot read its hyperparameters" in skipped[0]
    assert f"resuming from {os.path.join(out, 'epoch-1')} (epoch 1)" in printed.out
    assert "epoch 2/3" in printed.out and "epoch 3/3" in printed.out
    assert epochs_in(out) == ["epoch-1", "epoch-2", "epoch-3"]
    # epoch 2 was trained again and written whole
    assert checkpoints.load_hparams(os.path.join(out, "epoch-2")).distribution == "bernoulli"


@pytest.mark.parametrize("kill_point", ["json written", "variables half written",
                                        "index written, not yet recorded", "recorded, data cut"])
def test_every_kill_point_of_a_save_leaves_a_folder_that_resume_continues(
        plain_rnn_init, tmp_path, capsys, kill_point):
    data, init = plain_rnn_init
    out = str(tmp_path / "run")
    common = ["--data", data, "--out-dir", out, "--save-every", "1"]
    rnn_rbm_train.main(["3", "--init", init] + common)
    # Turn the complete epoch 3 into what a kill during its save leaves behind.
    prefix = os.path.join(out, "epoch-3")
    data_file = prefix + ".data-00000-of-00001"
    if kill_point != "recorded, data cut":  # the manager records a checkpoint only once written
        state = os.path.join(out, "checkpoint")
        lines = open(state).read().splitlines()
        stamps = [line for line in lines if line.startswith("all_model_checkpoint_timestamps")]
        kept = [line.replace('"epoch-3"', '"epoch-2"') for line in lines
                if line != 'all_model_checkpoint_paths: "epoch-3"' and line != stamps[-1]]
        with open(state, "w") as handle:
            handle.write("\n".join(kept) + "\n")
    if kill_point == "json written":
        os.remove(prefix + ".index")
        os.remove(data_file)
        os.makedirs(prefix + "_temp")  # TensorFlow's folder for the shards being written
    if kill_point in ("variables half written", "recorded, data cut"):
        with open(data_file, "r+b") as handle:
            handle.truncate(10)
    if kill_point == "variables half written":
        os.remove(prefix + ".index")
    capsys.readouterr()
    rnn_rbm_train.main(["4", "--resume"] + common)
    printed = capsys.readouterr()
    assert f"resuming from {os.path.join(out, 'epoch-2')} (epoch 2)" in printed.out
    skipped = [line for line in printed.err.splitlines() if line.startswith("skipping")]
    assert len(skipped) == (kill_point == "recorded, data cut")
    assert "epoch 3/4" in printed.out and "epoch 4/4" in printed.out
    assert epochs_in(out) == ["epoch-1", "epoch-2", "epoch-3", "epoch-4"]
    assert not os.path.exists(prefix + "_temp")
    checkpoints.load(prefix)  # epoch 3 was trained again and written whole


def test_resume_keeps_the_resumed_runs_settings_unless_given_again(plain_rnn_init, tmp_path):
    data, init = plain_rnn_init
    out = str(tmp_path / "run")
    rnn_rbm_train.main(["1", "--data", data, "--init", init, "--out-dir", out, "--key", "as-is",
                        "--lr", "0.01", "--batch-size", "2"])
    rnn_rbm_train.main(["2", "--resume", "--out-dir", out, "--batch-size", "3"])
    stored = checkpoints.load_description(os.path.join(out, "epoch-2"))[1]
    assert (stored["key"], stored["lr"], stored["data"]) == ("as-is", 0.01, data)
    assert stored["batch_size"] == 3  # given again, so this run's


def test_training_chain_length_defaults_by_material_and_resume_keeps_it(plain_rnn_init, tmp_path):
    assert rnn_rbm_train.parse_args([]).k == 25  # MIDI songs: CD-25
    assert rnn_rbm_train.parse_args(["--dataset", "jsb.json"]).k == 15  # the paper's setting
    assert rnn_rbm_train.parse_args(["--k", "7"]).k == 7
    data, init = plain_rnn_init
    out = str(tmp_path / "run")
    rnn_rbm_train.main(["1", "--data", data, "--init", init, "--out-dir", out, "--k", "3"])
    assert rnn_rbm_train.parse_args(["2", "--resume", "--out-dir", out]).k == 3


def test_self_feeding_defaults_by_material_and_is_off_for_runs_from_before_it(plain_rnn_init,
                                                                           tmp_path):
    assert rnn_rbm_train.parse_args([]).self_feed == rnn_rbm_train.SELF_FEED == 0.25
    assert rnn_rbm_train.parse_args(["--dataset", "jsb.json"]).self_feed == 0.0
    data, init = plain_rnn_init
    out = str(tmp_path / "run")
    rnn_rbm_train.main(["1", "--data", data, "--init", init, "--out-dir", out, "--k", "2"])
    assert checkpoints.load_description(os.path.join(out, "epoch-1"))[1]["self_feed"] == 0.25
    assert rnn_rbm_train.parse_args(["2", "--resume", "--out-dir", out]).self_feed == 0.25
    description = os.path.join(out, "epoch-1.json")
    with open(description) as f:
        stored = json.load(f)
    del stored["run"]["self_feed"]  # as a run from before the flag wrote it
    with open(description, "w") as f:
        json.dump(stored, f)
    assert rnn_rbm_train.parse_args(["2", "--resume", "--out-dir", out]).self_feed == 0.0


def test_training_writes_tensorboard_summaries_that_read_back(trained, tmp_path):
    root, data, ckpt, init = trained
    out = str(tmp_path / "run")
    rnn_rbm_train.main(["2", "--data", data, "--init", init, "--out-dir", out, "--k", "2",
                        "--sample-every", "1"])
    tags = tensorboard_tags(os.path.join(out, "logs"))
    assert tags["cost/epoch"] == [1, 2] and tags["epoch/vectors_per_second"] == [1, 2]
    assert tags["sample"] == [1, 2] and tags["flags"] == [0]
    assert len(tags["cost/step"]) == 2 * len(tags["cost/step"]) // 2 >= 2  # every step, both epochs
    assert tags["cost/step"] == sorted(tags["cost/step"])


def test_force_sets_an_earlier_run_aside(plain_rnn_init, tmp_path, capsys):
    data, init = plain_rnn_init
    out = str(tmp_path / "run")
    argv = ["1", "--data", data, "--init", init, "--out-dir", out]
    rnn_rbm_train.main(argv)
    rnn_rbm_train.main(argv + ["--force"])
    assert f"moved the earlier run's checkpoints to {os.path.join(out, 'earlier-0')}" in \
        capsys.readouterr().out
    assert epochs_in(out) == ["epoch-1"]
    assert epochs_in(os.path.join(out, "earlier-0")) == ["epoch-1"]


def test_mismatched_checkpoint_is_refused(trained, tmp_path):
    root, data, ckpt, init = trained
    bad = str(tmp_path / "bad")
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copyfile(init + suffix, bad + suffix)
    hp = checkpoints.load_hparams(init)
    hp.n_hidden = 7
    with open(bad + ".json", "w") as f:
        f.write(hp.to_json())
    with pytest.raises(SystemExit) as exit_info:
        rnn_rbm_generate.main([bad, "--no-primer", "--out-dir", str(tmp_path / "m")])
    assert "does not match" in str(exit_info.value.code)


def test_training_refuses_transposition_of_midi_vectors(tmp_path):
    hp = rnn_rbm.HParams(n_hidden=6, n_hidden_recurrent=5)
    checkpoints.save(str(tmp_path / "init"), rnn_rbm.RnnRbm(hp, seed=0))
    with pytest.raises(SystemExit, match=r"init: --transpose needs one unit per key"):
        rnn_rbm_train.main(["1", "--init", str(tmp_path / "init"),
                            "--out-dir", str(tmp_path / "out"), "--transpose", "3"])


TINY_NADE = {"train": [[[60, 64, 67], [62, 65, 69], [60, 64, 67], [62, 65, 69]] * 3,
                       [[60, 64], [62, 65]] * 4],
             "valid": [[[60, 64, 67], [62, 65, 69]] * 2],
             "test": [[[60, 64, 67], [62, 65, 69], [60, 64, 67]], [[]]]}
TINY_RNN = dict(TINY_NADE, test=TINY_NADE["test"][:1])


def roll(steps):
    """An 88-key piano roll of a benchmark sequence."""
    out = np.zeros((len(steps), 88), np.float32)
    for t, pitches in enumerate(steps):
        out[t, [p - 21 for p in pitches]] = 1
    return out


def last_pretraining_errors(printed):
    """The error each pre-training run printed for its last epoch, from lines such as
    `epoch 40/40  -log p per vector, nats 12.3456  (lower is better)`."""
    errors = []
    for line in printed.splitlines():
        words = line.split()
        if "-log p per vector, nats" in line and words[1].split("/")[0] == words[1].split("/")[1]:
            errors.append(float(words[7]))
    return errors


def test_scripts_pretrain_train_and_score_an_rnn_nade(tmp_path, capsys):
    data = tmp_path / "jsb_tiny.json"
    data.write_text(json.dumps(TINY_NADE))
    init, out = str(tmp_path / "init"), str(tmp_path / "run")
    common = ["--n-hidden", "8", "--n-hidden-recurrent", "6", "--seed", "0"]
    weight_initializations.main(["--dataset", str(data), "--distribution", "nade", "--epochs",
                                 "1", "--out", str(tmp_path / "one")] + common)
    weight_initializations.main(["--dataset", str(data), "--distribution", "nade", "--epochs",
                                 "40", "--out", init] + common)
    after_one, after_forty = last_pretraining_errors(capsys.readouterr().out)
    assert after_forty < after_one < 88 * np.log(2)
    assert isinstance(checkpoints.load(init).distribution, distributions.NADE)

    rnn_rbm_train.main(["20", "--dataset", str(data), "--init", init, "--out-dir", out,
                        "--save-every", "20"])
    model = checkpoints.load(out + "/epoch-20")
    ll, acc, acc_mode = rnn_rbm_evaluate.main([out + "/epoch-20", "--dataset", str(data),
                                               "--acc-samples", "20"])
    printed = capsys.readouterr().out
    assert "exact: each step is a NADE" in printed and "paper RNN-NADE (HF)" in printed
    assert "-5.56" in printed
    frames, _, biases = evaluation.conditional_rows(model, [roll(s) for s in TINY_NADE["test"]])
    exact = model.distribution.log_prob(frames, biases).numpy().mean()
    assert ll == pytest.approx(exact, abs=1e-5) and ll > -88 * np.log(2)
    assert 0.0 <= acc <= 1.0 and 0.0 <= acc_mode <= 1.0


def test_scripts_pretrain_train_score_and_generate_a_plain_rnn(tmp_path, capsys):
    data = tmp_path / "nottingham_tiny.json"
    data.write_text(json.dumps(TINY_RNN))
    init, out = str(tmp_path / "init"), str(tmp_path / "run")
    weight_initializations.main(["--dataset", str(data), "--distribution", "bernoulli",
                                 "--epochs", "30", "--lr", "0.5", "--n-hidden-recurrent", "6",
                                 "--out", init])
    # Pre-training fits bv alone, one step per song: each unit's probability settles where the two
    # songs' pulls cancel, the mean of its frequency in each song: 0.5 for pitch 64 (on in half the
    # frames of both), about 0.25 for 67 (half of the first song, none of the second), near 0 for
    # the lowest key.
    model = checkpoints.load(init)
    assert model.hparams.distribution == "bernoulli" and model.distribution.exact
    assert isinstance(model.distribution, distributions.Bernoulli)
    p = 1 / (1 + np.exp(-model.distribution.bv.numpy()))
    assert p[64 - 21] == pytest.approx(0.5, abs=0.03)
    assert p[67 - 21] == pytest.approx(0.25, abs=0.04)
    assert p[0] < 0.05
    rnn_rbm_train.main(["15", "--dataset", str(data), "--init", init, "--out-dir", out,
                        "--save-every", "15", "--lr", "0.01"])
    capsys.readouterr()
    ll, acc, acc_mode = rnn_rbm_evaluate.main([out + "/epoch-15", "--dataset", str(data),
                                               "--acc-samples", "200"])
    printed = capsys.readouterr().out
    assert "exact: each step is a Bernoulli" in printed and "paper RNN (HF)" in printed
    assert "-3.89" in printed and "66.64" in printed
    model = checkpoints.load(out + "/epoch-15")
    frames, _, (bv,) = evaluation.conditional_rows(model, [roll(TINY_RNN["test"][0])])
    p = 1 / (1 + np.exp(-bv.astype(np.float64)))
    exact = np.mean(np.sum(np.log(np.where(frames > 0, p, 1 - p)), axis=1))
    assert ll == pytest.approx(exact, abs=1e-4) and ll > -88 * np.log(2)
    assert 0.0 <= acc <= acc_mode <= 1.0  # a peaked model: its mode beats its draws
    rnn_rbm_generate.main([out + "/epoch-15", "--no-primer", "--out-dir", str(tmp_path / "music"),
                           "--num", "1", "--steps", "12"])
    assert len(list((tmp_path / "music").glob("*.mid"))) == 1
