"""`rbm_chords.py` end to end on a few small songs written in a temporary folder."""
import contextlib
import io
import json
import os

import mido
import numpy as np
import pytest
import tensorflow as tf
from helpers import write_chord_songs

import midi_manipulation
import pianoroll
import RBM
import rbm_chords

NUM_TIMESTEPS = 4
SMALL = ["--num-timesteps", str(NUM_TIMESTEPS), "--n-hidden", "8", "--epochs", "3", "--num", "3"]


def main_printing(argv):
    """Runs `rbm_chords.main(argv)` and returns what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rbm_chords.main(argv)
    return printed.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One training run with `--save`: `(root, data folder, prefix, out folder, its output)`."""
    root = tmp_path_factory.mktemp("chords")
    data, prefix, out = str(root / "songs"), str(root / "saved" / "chords"), str(root / "out")
    write_chord_songs(data, frames=64, pitches=range(24, 48), notes=4)
    printed = main_printing(SMALL + ["--data", data, "--save", prefix, "--out-dir", out,
                                     "--seed", "1", "--png"])
    return root, data, prefix, out, printed


def notes_and_ticks(path):
    """`(note_ons with a velocity, ticks to the end of the track)` of a MIDI file."""
    midi = mido.MidiFile(path)
    messages = list(midi.tracks[0])
    notes = sum(m.type == "note_on" and m.velocity > 0 for m in messages)
    return notes, sum(m.time for m in messages), midi.ticks_per_beat


def test_training_writes_snippets_of_num_timesteps_16ths_with_notes(trained):
    _, _, _, out, printed = trained
    assert "epoch 3/3  reconstruction error " in printed and "(lower is better)" in printed
    for i in range(3):
        path = os.path.join(out, f"generated_chord_{i}.mid")
        notes, ticks, ticks_per_beat = notes_and_ticks(path)
        assert notes > 0
        assert ticks == NUM_TIMESTEPS * ticks_per_beat // midi_manipulation.FRAMES_PER_BEAT
        assert midi_manipulation.midiToNoteStateMatrix(path).shape[0] == NUM_TIMESTEPS
        assert f"wrote {path}  ({notes} notes)" in printed
        with open(os.path.join(out, f"generated_chord_{i}.png"), "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(out)) == sorted(f"generated_chord_{i}{end}" for i in range(3)
                                             for end in (".mid", ".png"))


def test_the_saved_settings_rebuild_the_rbm(trained):
    _, data, prefix, _, printed = trained
    with open(prefix + ".json") as handle:
        stored = json.load(handle)
    assert stored["rbm"] == {"num_timesteps": NUM_TIMESTEPS, "n_hidden": 8}
    assert stored["run"]["epochs"] == 3 and stored["run"]["data"] == data
    rbm, num_timesteps = rbm_chords.load(prefix)
    assert num_timesteps == NUM_TIMESTEPS
    assert rbm.W.shape == (NUM_TIMESTEPS * 2 * midi_manipulation.span, 8)
    assert f"saved {prefix}" in printed


def test_a_loaded_rbm_writes_the_same_snippets_for_the_same_seed(trained, tmp_path):
    _, _, prefix, out, _ = trained
    again = str(tmp_path / "again")
    printed = main_printing(["--load", prefix, "--seed", "1", "--num", "3", "--out-dir", again])
    assert "epoch" not in printed  # no training
    for i in range(3):
        name = f"generated_chord_{i}.mid"
        with open(os.path.join(out, name), "rb") as a, open(os.path.join(again, name), "rb") as b:
            assert a.read() == b.read()


def test_existing_files_are_never_overwritten(trained, tmp_path, monkeypatch):
    _, _, prefix, _, _ = trained
    out = tmp_path / "music"
    out.mkdir()
    (out / "generated_chord_0.wav").write_bytes(b"keep")  # any of the three takes the number
    (out / "generated_chord_2.mid").write_bytes(b"keep too")
    monkeypatch.setattr(pianoroll, "render_wav", lambda midi, wav: (None, "no audio: test"))
    argv = ["--load", prefix, "--num", "2", "--out-dir", str(out), "--wav"]
    printed = main_printing(argv) + main_printing(argv)
    assert (out / "generated_chord_0.wav").read_bytes() == b"keep"
    assert (out / "generated_chord_2.mid").read_bytes() == b"keep too"
    written = [f"generated_chord_{i}.mid" for i in (1, 3, 4, 5)]
    assert sorted(os.listdir(out)) == sorted(written + ["generated_chord_0.wav",
                                                        "generated_chord_2.mid"])
    assert printed.count("no audio: test") == 2  # once a run, not once a file


BAD_FLAGS = [
    (["--epochs", "0"], "--epochs"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--k", "0"], "--k"),
    (["--batch-size", "-1"], "--batch-size"),
    (["--num-timesteps", "x"], "--num-timesteps"),
    (["--n-hidden", "0"], "--n-hidden"),
    (["--num", "0"], "--num"),
    (["--sample-steps", "0"], "--sample-steps"),
    (["--seed", "-3"], "--seed"),
    (["--load", "a", "--save", "b"], "--load and --save"),
]


@pytest.mark.parametrize("argv, flag", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_stop_before_any_work_with_one_error_line(tmp_path, capsys, argv, flag):
    with pytest.raises(SystemExit) as exit_info:
        rbm_chords.main(argv + ["--out-dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    printed = capsys.readouterr()
    errors = [line for line in printed.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and flag in errors[0], printed.err
    assert printed.out == "" and os.listdir(tmp_path) == []


def test_bad_paths_stop_before_any_work_with_one_error_line(trained, tmp_path, capsys):
    _, data, prefix, _, _ = trained
    (tmp_path / "a_file").write_text("")
    cases = [
        (["--data", str(tmp_path / "nowhere")], "nowhere: folder not found"),
        (["--data", data, "--save", prefix], f"{prefix}: a saved RBM is there already"),
        (["--load", str(tmp_path / "missing")], "missing: no saved RBM there"),
        (["--load", prefix, "--n-hidden", "9"], "--n-hidden 9: the RBM in"),
        (["--data", data, "--out-dir", str(tmp_path / "a_file")], "a_file: is a file"),
    ]
    for argv, needle in cases:
        out = ["--out-dir", str(tmp_path / "out")] if "--out-dir" not in argv else []
        with pytest.raises(SystemExit) as exit_info:
            rbm_chords.main(argv + out)
        message = str(exit_info.value.code)
        assert message.startswith("error: ") and "\n" not in message and needle in message
    assert "epoch" not in capsys.readouterr().out
    assert os.listdir(tmp_path) == ["a_file"]  # no folder made, nothing written


def test_silent_snippets_are_drawn_again():
    span = midi_manipulation.span
    rbm = RBM.RBM(2 * span, 3, tf.random.Generator.from_seed(0))
    rbm.W.assign(tf.zeros_like(rbm.W))
    bv = np.full(2 * span, -30.0, np.float32)
    bv[10] = 0.0  # one pitch that plays with probability 1/2, so half the draws are silent
    rbm.bv.assign(bv)
    snippets = rbm_chords.draw(rbm, 8, 1, 1, seed=2)
    assert snippets.shape == (8, 2 * span)
    assert (snippets[:, 10] == 1).all() and snippets.sum() == 8
