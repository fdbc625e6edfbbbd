"""rnn_rbm_evaluate.py end to end: a checkpoint scored on a tiny benchmark beside the paper."""
import json
import re

import numpy as np
import pytest
from helpers import tiny_model

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
