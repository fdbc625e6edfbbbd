"""rnn_rbm_evaluate.py end to end: a checkpoint scored on a tiny benchmark beside the paper."""
import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from helpers import tensorboard_events, tiny_model

import checkpoints
import rnn_rbm
import rnn_rbm_evaluate as ev

# A tiny benchmark: pitch 21 is column 0, 108 is column 87; valid's first step is silence.
TINY = {"train": [[[60, 64, 67], [21, 108]], [[62]]],
        "valid": [[[], [48, 50]]],
        "test": [[[60], [60, 72], [72]]]}


def test_script_scores_a_saved_checkpoint(tmp_path, capsys):
    checkpoints.save(str(tmp_path / "ckpt"), tiny_model())
    (tmp_path / "jsb_tiny.json").write_text(json.dumps(TINY))
    ll, acc, acc_mode = ev.main([str(tmp_path / "ckpt"), "--dataset",
                                 str(tmp_path / "jsb_tiny.json"), "--ais-betas", "200",
                                 "--ais-runs", "20", "--acc-samples", "2"])
    out = capsys.readouterr().out
    assert "1 sequences, 3 time steps" in out
    assert "paper RNN-RBM" in out and "-6.27" in out and "-61.00" in out
    assert -61.0 < ll < 0.0 and 0.0 <= acc <= 1.0 and 0.0 <= acc_mode <= 1.0
    assert "ACC % (mode)" in out and "most probable of each frame's samples" in out
    assert "counts pooled over the split" in out
    # Repeating the previous frame: {} for {60} scores 0, {60} for {60, 72} 1/2, {60, 72} for {72}
    # 1/2: a mean of 1/3 over the three steps.
    assert re.search(r"repeat previous frame\s+-\s+-\s+33\.33", out)
    # No --logdir: beside training's <out-dir>/logs, at step 0 (the name holds no epoch).
    default = tmp_path / "logs" / "evaluate"
    assert f"TensorBoard: evaluate/test/* at step 0 in {default}" in out
    assert {step for _, step, _ in tensorboard_events(default)} == {0}


def test_script_refuses_a_missing_checkpoint_and_a_midi_model(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps(TINY))
    with pytest.raises(SystemExit, match=r"error: .*nothing: no checkpoint there"):
        ev.main([str(tmp_path / "nothing"), "--dataset", str(tmp_path / "d.json")])
    midi_model = rnn_rbm.RnnRbm(rnn_rbm.HParams(n_hidden=4, n_hidden_recurrent=3))
    checkpoints.save(str(tmp_path / "midi"), midi_model)
    with pytest.raises(SystemExit, match=r"624 visible units from MIDI 24, the benchmarks need 88"):
        ev.main([str(tmp_path / "midi"), "--dataset", str(tmp_path / "d.json")])


def test_the_paper_row_is_found_from_the_file_name():
    row = ev.paper_row("../shared/data/JSB_Chorales.pickle")
    assert row.name == "JSB Chorales"
    assert row.rnn_rbm == ev.Score(-6.27, 33.12) and row.rnn_rbm.ll == -6.27
    assert row.rnn_nade.acc == 32.50 and row.rnn == ev.Score(-8.58, 29.41)
    assert ev.paper_row("data/Nottingham.json").rnn_nade.ll == -2.31
    assert ev.paper_row("mine.json") is None
    assert ev.RANDOM_LL == pytest.approx(-88 * np.log(2)) and f"{ev.RANDOM_LL:.2f}" == "-61.00"


# What the evaluator prints, figure by figure: (TensorBoard name, pattern of the printed value).
PRINTED = {"ll": r"^LL +(-?\d+\.\d+) nats per time step",
           "acc": r"^ACC +(\d+\.\d+) %",
           "acc_mode": r"^ +(\d+\.\d+) % +\(most probable of each frame's samples",
           "acc_pooled": r"^ +(\d+\.\d+) % +\(sampled frames, counts pooled",
           "acc_repeat_previous": r"^repeat previous frame +- +- +(\d+\.\d+)$"}


def printed_figures(out):
    """`{name: (value, decimals)}` of the figures in the evaluator's output."""
    found = {}
    for name, pattern in PRINTED.items():
        text = re.search(pattern, out, re.MULTILINE).group(1)
        found[name] = (float(text), len(text.split(".")[1]))
    return found


def evaluate(tmp_path, prefix, *flags):
    """Runs the evaluator on the tiny benchmark with quick settings; returns what it printed."""
    (tmp_path / "jsb_tiny.json").write_text(json.dumps(TINY))
    ev.main([prefix, "--dataset", str(tmp_path / "jsb_tiny.json"), "--ais-betas", "200",
             "--ais-runs", "20", "--acc-samples", "2", *flags])


def test_the_printed_figures_are_logged_at_the_checkpoints_epoch(tmp_path, capsys):
    out_dir, logdir = str(tmp_path / "run"), str(tmp_path / "eval")
    manager = checkpoints.epoch_manager(out_dir, model=tiny_model(),
                                        epoch=tf.Variable(7, dtype=tf.int64))
    prefix = checkpoints.save_epoch(manager, manager.checkpoint.model, 7)
    # 50 Gibbs steps: this tiny model's chains then still hit some notes, so the three ACC
    # figures differ (after 1000 all three are 0) and a figure logged under another's tag shows.
    evaluate(tmp_path, prefix, "--split", "test", "--acc-gibbs", "50", "--logdir", logdir)
    printed = printed_figures(capsys.readouterr().out)
    assert len({value for value, _ in printed.values()}) == len(PRINTED)
    events = tensorboard_events(logdir)
    assert {step for _, step, _ in events} == {7}
    logged = {tag: value for tag, _, value in events}
    assert sorted(logged) == sorted([f"evaluate/test/{name}" for name in PRINTED]
                                    + ["evaluate/test/flags", "evaluate/test/paper"])
    for name, (value, decimals) in printed.items():
        assert float(logged[f"evaluate/test/{name}"]) == pytest.approx(
            value, abs=0.5 * 10 ** -decimals + 1e-6), name
    flags = json.loads(logged["evaluate/test/flags"].decode().strip("`\n"))
    assert (flags["checkpoint"], flags["split"], flags["ais_betas"]) == (prefix, "test", 200)
    assert flags["logdir"] == logdir
    paper = logged["evaluate/test/paper"].decode()
    assert "| paper RNN-RBM (JSB Chorales) | -6.27 | 33.12 |" in paper
    assert "| paper RNN (HF) (JSB Chorales) | -8.58 | 29.41 |" in paper


def test_an_unwritable_logdir_costs_one_line_on_stderr_not_the_figures(tmp_path, capsys):
    checkpoints.save(str(tmp_path / "ckpt"), tiny_model())
    (tmp_path / "taken").write_text("a file, not a folder")
    evaluate(tmp_path, str(tmp_path / "ckpt"), "--logdir", str(tmp_path / "taken"))
    printed = capsys.readouterr()
    assert sorted(printed_figures(printed.out)) == sorted(PRINTED)
    assert "TensorBoard:" not in printed.out
    warning = printed.err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: no TensorBoard summaries, "
                                                       f"cannot write {tmp_path / 'taken'} (")
    assert "[Op:" not in warning[0] and "{{" not in warning[0]


def test_the_epoch_is_read_from_the_checkpoint_else_its_name_else_zero(tmp_path):
    manager = checkpoints.epoch_manager(str(tmp_path), model=tiny_model(),
                                        epoch=tf.Variable(7, dtype=tf.int64))
    prefix = checkpoints.save_epoch(manager, manager.checkpoint.model, 7)
    for name in os.listdir(tmp_path):  # the same checkpoint, under a name without the epoch
        if name.startswith("epoch-7."):
            shutil.copyfile(tmp_path / name, tmp_path / ("best" + name[len("epoch-7"):]))
    assert ev.checkpoint_epoch(prefix) == ev.checkpoint_epoch(str(tmp_path / "best")) == 7
    checkpoints.save(str(tmp_path / "epoch-12"), tiny_model())  # no epoch variable: the name's
    assert ev.checkpoint_epoch(str(tmp_path / "epoch-12")) == 12
    checkpoints.save(str(tmp_path / "pretrained"), tiny_model())
    assert ev.checkpoint_epoch(str(tmp_path / "pretrained")) == 0
