"""Tests for benchmark_data: reading the polyphonic benchmarks from JSON and from safe pickles."""
import json
import os
import pickle

import numpy as np
import pytest

from benchmark_data import BenchmarkError, load_benchmark

# A tiny benchmark: pitch 21 is column 0, 108 is column 87; valid's first step is silence.
TINY = {"train": [[[60, 64, 67], [21, 108]], [[62]]],
        "valid": [[[], [48, 50]]],
        "test": [[[60], [60, 72], [72]]]}


def test_json_and_pickle_agree_with_hand_built_rolls(tmp_path):
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    with open(tmp_path / "tiny.pickle", "wb") as handle:
        pickle.dump(TINY, handle, protocol=2)  # the protocol of the original Python 2 files
    for name in ("tiny.json", "tiny.pickle"):
        rolls = load_benchmark(str(tmp_path / name))
        assert [len(rolls[s]) for s in ("train", "valid", "test")] == [2, 1, 1]
        first = rolls["train"][0]
        assert first.shape == (2, 88) and first.dtype == np.uint8
        assert np.flatnonzero(first[0]).tolist() == [39, 43, 46]
        assert np.flatnonzero(first[1]).tolist() == [0, 87]
        assert rolls["valid"][0][0].sum() == 0
        assert np.flatnonzero(rolls["valid"][0][1]).tolist() == [27, 29]
        assert rolls["test"][0].sum() == 4


class Payload:
    """Unpickling this would run `os.system`."""

    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


@pytest.mark.parametrize("payload", [
    Payload(),
    {"train": [], "valid": [], "test": [[[60]]], "x": Payload()},
    {"train": np.int64(3)},
])
def test_pickle_naming_any_object_is_refused(tmp_path, payload):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(BenchmarkError, match=r"evil\.pkl: .*only lists, dicts and numbers") as err:
        load_benchmark(str(path))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("data, message", [
    ([1, 2], "not a dict of splits"),
    ({"train": [], "valid": []}, "no test split"),
    ({"train": [[[60, 109]]], "valid": [], "test": []}, "step 0 holds 109, not a MIDI pitch"),
    ({"train": [[[60, True]]], "valid": [], "test": []}, "holds True"),
    ({"train": [[60]], "valid": [], "test": []}, "step 0 is a int, not a list of pitches"),
    ({"train": {}, "valid": [], "test": []}, "split 'train' is a dict, not a list of sequences"),
])
def test_malformed_benchmarks_give_one_line_errors(tmp_path, data, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BenchmarkError, match=message) as err:
        load_benchmark(str(path))
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


@pytest.mark.parametrize("name, content, message", [
    ("gone.json", None, "no such file"),
    ("tiny.txt", "{}", "unknown suffix '.txt'"),
    ("cut.pickle", pickle.dumps(TINY)[:20], "only lists, dicts and numbers"),
])
def test_missing_odd_or_damaged_files_give_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(BenchmarkError, match=message) as err:
        load_benchmark(str(path))
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
