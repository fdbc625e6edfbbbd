"""The three scripts, end to end, on a few small songs in a temporary folder."""
import json
import os

import mido
import numpy as np
import pytest

import midi_manipulation
import rnn_rbm
import rnn_rbm_generate
import rnn_rbm_train
import weight_initializations


def write_songs(folder, count=3, frames=80):
    """Songs of repeating chords (each 60 16th notes or more, so they are kept)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        m = np.zeros((frames, 2 * midi_manipulation.span), np.uint8)
        for start in range(0, frames, 4):
            chord = rng.choice(np.arange(30, 60), size=3, replace=False)
            m[start:start + 4, chord] = 1
            m[start, midi_manipulation.span + chord] = 1
        midi_manipulation.noteStateMatrixToMidi(m, os.path.join(folder, "song{}".format(i)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    data, ckpt = str(root / "songs"), str(root / "ckpt")
    write_songs(data)
    init = os.path.join(ckpt, "initialized")
    weight_initializations.main(["--data", data, "--out", init, "--epochs", "3"])
    rnn_rbm_train.main(["3", "--data", data, "--init", init, "--out-dir", ckpt, "--save-every", "2",
                        "--k", "2"])
    return root, data, ckpt, init


def test_training_writes_epoch_checkpoints_with_hyperparameters(trained):
    root, data, ckpt, init = trained
    assert sorted(rnn_rbm.epoch_checkpoints(ckpt)) == [2, 3]
    with open(os.path.join(ckpt, "epoch_3.json")) as f:
        stored = json.load(f)
    assert stored["n_hidden"] == 50 and stored["k_train"] == 2 and stored["num_timesteps"] == 5


def test_resume_continues_from_the_last_epoch(trained, capsys):
    root, data, ckpt, init = trained
    rnn_rbm_train.main(["4", "--resume", "--data", data, "--out-dir", ckpt, "--save-every", "2"])
    out = capsys.readouterr().out
    assert "resuming from {} (epoch 3)".format(os.path.join(ckpt, "epoch_3")) in out
    assert "epoch 4/4" in out and "epoch 3/4" not in out
    assert sorted(rnn_rbm.epoch_checkpoints(ckpt)) == [2, 3, 4]


def test_generation_writes_songs_with_notes_and_never_overwrites(trained, capsys):
    root, data, ckpt, init = trained
    out = str(root / "music")
    args = [os.path.join(ckpt, "epoch_3"), "--data", data, "--out", out, "--num", "2", "--steps", "30",
            "--seed", "1"]
    rnn_rbm_generate.main(args)
    rnn_rbm_generate.main(args)
    names = sorted(os.listdir(out))
    assert names == ["epoch_3_0.mid", "epoch_3_1.mid", "epoch_3_2.mid", "epoch_3_3.mid"]
    printed = capsys.readouterr().out
    for name in names:
        midi = mido.MidiFile(os.path.join(out, name))
        notes = [m for m in midi if m.type == "note_on" and m.velocity > 0]
        assert len(notes) > 0
        assert "{}  ({} notes)".format(os.path.join(out, name), len(notes)) in printed
        assert midi_manipulation.midiToNoteStateMatrix(os.path.join(out, name)).shape[0] <= 30 * 5


def test_generation_from_a_folder_takes_the_latest_epoch(trained, capsys):
    root, data, ckpt, init = trained
    rnn_rbm_generate.main([ckpt, "--data", data, "--out", str(root / "latest"), "--num", "1",
                           "--steps", "5", "--no-primer"])
    assert os.listdir(str(root / "latest"))[0].startswith("epoch_")


def test_bad_inputs_exit_with_one_line(trained, tmp_path):
    root, data, ckpt, init = trained
    cases = [
        (rnn_rbm_generate.main, [str(tmp_path / "nope")], "no checkpoint there"),
        (rnn_rbm_train.main, ["2", "--data", data, "--init", str(tmp_path / "nope"),
                              "--out-dir", str(tmp_path / "o")], "no checkpoint there"),
        (rnn_rbm_train.main, ["9", "--data", data, "--init", init, "--out-dir", ckpt], "--resume"),
        (rnn_rbm_train.main, ["2", "--resume", "--data", data, "--out-dir", str(tmp_path)], "nothing"),
        (rnn_rbm_train.main, ["2", "--dropout", "1", "--data", data, "--out-dir", str(tmp_path / "d")],
         "--dropout"),
        (weight_initializations.main, ["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "i")],
         "folder not found"),
        (weight_initializations.main, ["--data", data, "--out", init], "--force"),
    ]
    for main, argv, needle in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        message = str(exit_info.value.code)
        assert message.startswith("error: ") and "\n" not in message
        assert needle in message or needle.replace("nothing", "no epoch_<n>") in message


def test_mismatched_checkpoint_is_refused(trained, tmp_path):
    root, data, ckpt, init = trained
    bad = str(tmp_path / "bad")
    for suffix in (".index", ".data-00000-of-00001"):
        with open(init + suffix, "rb") as src, open(bad + suffix, "wb") as dst:
            dst.write(src.read())
    hp = rnn_rbm.load_hparams(init)
    hp.n_hidden = 7
    with open(bad + ".json", "w") as f:
        f.write(hp.to_json())
    with pytest.raises(SystemExit) as exit_info:
        rnn_rbm_generate.main([bad, "--no-primer", "--out", str(tmp_path / "m")])
    assert "does not match" in str(exit_info.value.code)
