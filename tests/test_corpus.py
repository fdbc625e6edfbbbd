"""Prepared corpora: what prepare_data.py writes, how a second or interrupted run continues, and
that streaming from the cache gives the vectors the MIDI folder gives."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from helpers import write_chord_songs

import corpus
import data
import layout
import midi_manipulation
import prepare_data
import rnn_rbm
import shards
import streaming
import training

LIMITS = dict(max_frames=midi_manipulation.MAX_FRAMES,
              max_silent_frames=midi_manipulation.MAX_SILENT_FRAMES)


def songs_folder(root):
    """Five good songs (one in a subfolder, lengths 60..140), a corrupt file and a short one."""
    folder = root / "midi"
    for i, frames in enumerate((60, 80, 100, 120)):
        write_chord_songs(str(folder / f"set{i}"), count=1, frames=frames,
                          pitches=range(40 + i, 70))
    write_chord_songs(str(folder / "set0" / "deeper"), count=1, frames=140)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    write_chord_songs(str(folder / "short"), count=1, frames=20)
    return folder


def records_of(cache):
    """`{path: note-state matrix}` of every record in the cache's shards."""
    found = {}
    for name in sorted(os.listdir(cache)):
        if name.endswith(".tfrecord.gz"):
            for record in tf.data.TFRecordDataset(os.path.join(cache, name), "GZIP"):
                example = tf.train.Example.FromString(record.numpy()).features.feature
                path = example["path"].bytes_list.value[0].decode()
                assert path not in found
                found[path] = corpus.unpack(example["bits"].bytes_list.value[0],
                                            example["frames"].int64_list.value[0])
    return found


def prepare(folder, cache, key="as-is", **kwargs):
    return shards.prepare([str(folder)], str(cache), 1, LIMITS, key=key, **kwargs)


def test_records_hold_each_songs_exact_matrix_and_bad_files_are_listed_with_why(tmp_path):
    folder = songs_folder(tmp_path)
    with pytest.warns(UserWarning) as caught:
        counts = prepare(folder, tmp_path / "cache")
    assert counts == dict(files=7, parsed=5, unchanged=0, skipped=2, dropped=0)
    assert any("broken.mid" in str(w.message) for w in caught)
    head, entries = corpus.read_manifest(tmp_path / "cache")
    assert head["complete"] and head["lowest_note"] == layout.LOWEST_NOTE
    skipped = {os.path.basename(p): e["skipped"] for p, e in entries.items() if "skipped" in e}
    assert set(skipped) == {"broken.mid", "song0.mid"}
    assert "fewer than the 50" in skipped["song0.mid"]
    records = records_of(tmp_path / "cache")
    assert len(records) == 5
    for path, matrix in records.items():
        np.testing.assert_array_equal(matrix, midi_manipulation.midiToNoteStateMatrix(path))
        assert entries[path]["frames"] == len(matrix)
        assert entries[path]["sha256"] == corpus.file_sha256(path)


def test_a_second_run_parses_only_new_and_changed_files_and_drops_gone_ones(tmp_path):
    folder, cache = songs_folder(tmp_path), tmp_path / "cache"
    with pytest.warns(UserWarning):
        prepare(folder, cache, shard_songs=2)
    assert prepare(folder, cache)["parsed"] == 0
    touched = folder / "set1" / "song0.mid"
    os.utime(touched, ns=(1, 1))  # same content, another time: hashed, not parsed
    changed = folder / "set2" / "song0.mid"
    write_chord_songs(str(changed.parent), count=1, frames=64, pitches=range(50, 60))
    os.remove(folder / "set3" / "song0.mid")
    write_chord_songs(str(folder / "new"), count=1, frames=72)
    counts = prepare(folder, cache)
    assert (counts["parsed"], counts["unchanged"], counts["dropped"]) == (2, 5, 1)
    records = records_of(cache)
    assert len(records) == 5 and str(folder / "set3" / "song0.mid") not in records
    assert len(records[str(changed)]) == 64  # the old record of the changed file is gone
    _, entries = corpus.read_manifest(cache)
    assert sorted(n for n in os.listdir(cache) if ".tfrecord" in n) == sorted(
        {e["shard"] for e in entries.values() if "shard" in e})


def test_an_interrupted_run_keeps_its_whole_shards_and_the_next_run_finishes(tmp_path,
                                                                              monkeypatch):
    folder, cache = songs_folder(tmp_path), tmp_path / "cache"
    parse = corpus.parse_in_parallel

    def interrupted(tasks, processes):
        for n, entry in enumerate(parse(tasks, processes)):
            if n == 4:  # after the broken file and three songs: one shard whole, one not
                raise KeyboardInterrupt
            yield entry

    monkeypatch.setattr(corpus, "parse_in_parallel", interrupted)
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning):
        prepare(folder, cache, shard_songs=2, valid_share=0.0)
    with pytest.raises(corpus.CacheError, match="did not finish"):
        corpus.songs_of(cache, "train")
    _, entries = corpus.read_manifest(cache)
    done = [p for p, e in entries.items() if "shard" in e]
    assert len(done) == 2  # the whole shard's two songs; the third's shard was never finished
    monkeypatch.setattr(corpus, "parse_in_parallel", parse)
    with pytest.warns(UserWarning, match="short"):  # not reached before the interruption
        counts = prepare(folder, cache, shard_songs=2, valid_share=0.0)
    assert counts["parsed"] == 3 and counts["unchanged"] == 3  # two songs and the broken file
    assert len(records_of(cache)) == 5
    assert not [n for n in os.listdir(cache) if n.endswith(".partial")]


def test_the_split_follows_the_content_hash(tmp_path):
    assert corpus.split_of("00000000" + "f" * 56, 0.1) == "valid"
    assert corpus.split_of("ffffffff" + "0" * 56, 0.1) == "train"
    assert corpus.split_of("19999999" + "0" * 56, 0.1) == "valid"  # just under 0.1 * 2**32
    assert corpus.split_of("1999999a" + "0" * 56, 0.1) == "train"
    folder = songs_folder(tmp_path)
    with pytest.warns(UserWarning):
        prepare(folder, tmp_path / "cache", valid_share=0.5)
    _, entries = corpus.read_manifest(tmp_path / "cache")
    for e in entries.values():
        if "split" in e:
            assert e["split"] == corpus.split_of(e["sha256"], 0.5)
            assert e["shard"].startswith(e["split"] + "-")


def test_refuses_a_folder_that_is_not_a_cache_and_other_settings_without_force(tmp_path):
    folder = songs_folder(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(corpus.CacheError, match="not a prepared corpus"):
        prepare(folder, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.warns(UserWarning):
        prepare(folder, tmp_path / "cache")
    with pytest.raises(corpus.CacheError, match="other settings"):
        prepare(folder, tmp_path / "cache", valid_share=0.3)
    with pytest.warns(UserWarning):
        assert prepare(folder, tmp_path / "cache", valid_share=0.3, force=True)["parsed"] == 5


def test_two_processes_write_the_same_cache_as_one(tmp_path, capsys):
    folder = songs_folder(tmp_path)
    for n in (1, 2):
        with pytest.warns(UserWarning):
            prepare_data.main([str(folder), "--out", str(tmp_path / f"p{n}"), "--processes",
                               str(n)])
        assert "7 MIDI files: 5 parsed, 0 unchanged, 2 skipped" in capsys.readouterr().out
    lines = [[json.loads(x) for x in open(tmp_path / f"p{n}" / corpus.MANIFEST)] for n in (1, 2)]
    assert lines[0] == lines[1]
    assert records_of(tmp_path / "p1").keys() == records_of(tmp_path / "p2").keys()


def test_songs_are_stored_moved_to_c_when_asked_and_the_key_must_match(tmp_path):
    folder = tmp_path / "flat"
    write_chord_songs(str(folder), count=3, frames=61, pitches=range(40, 47))  # odd: a pad row
    for key in ("c", "as-is"):
        prepare(folder, tmp_path / key, valid_share=0.0, key=key)
        for path, matrix in records_of(tmp_path / key).items():
            whole = midi_manipulation.midiToNoteStateMatrix(path)
            np.testing.assert_array_equal(matrix, data.to_c(whole, 1) if key == "c" else whole)
    assert not np.array_equal(*[records_of(tmp_path / k)[str(folder / "song0.mid")]
                                for k in ("c", "as-is")])
    with pytest.raises(corpus.CacheError, match="train with --key c or prepare another"):
        streaming.song_groups(str(tmp_path / "c"), rnn_rbm.HParams(n_hidden=4), key="as-is")


@pytest.mark.parametrize("num_timesteps, chunk_length, key", [(4, 100, "c"), (5, 7, "as-is"),
                                                             (1, 0, "c")])
def test_streamed_batches_hold_the_chunks_of_the_midi_folder(tmp_path, monkeypatch,
                                                              num_timesteps, chunk_length, key):
    monkeypatch.setattr(streaming, "GROUP", 3)  # several groups, one of them short
    folder = tmp_path / "flat"
    write_chord_songs(str(folder), count=6, frames=90)
    write_chord_songs(str(folder / "x"), count=1, frames=203)
    os.rename(folder / "x" / "song0.mid", folder / "long.mid")
    prepare(folder, tmp_path / "cache", valid_share=0.0, shard_songs=3, key=key)
    hparams = rnn_rbm.HParams(n_hidden=4, num_timesteps=num_timesteps)
    songs = data.load_songs(hparams, midi_dir=str(folder), key=key)
    expected = sorted(c.astype(np.uint8).tobytes()
                      for c in training.split_into_chunks(songs, chunk_length))
    next_epoch, _ = streaming.training_batches(str(tmp_path / "cache"), hparams, key,
                                               chunk_length, 3, seed=1)
    orders = []
    for _ in range(3):
        got = []
        for v, mask in next_epoch():
            assert v.dtype == tf.float32 and v.shape[0] <= 3 and mask.shape == v.shape[:2]
            lengths = np.asarray(mask).sum(axis=1).astype(int)
            assert lengths.min() > 0  # no empty chunks; padded by less than a grain
            assert lengths.max() <= v.shape[1] < lengths.max() + streaming.TIME_GRAIN
            got += [np.asarray(v)[i, :n].astype(np.uint8).tobytes() for i, n in enumerate(lengths)]
        assert sorted(got) == expected  # every epoch holds every chunk once
        orders.append(got)
    assert orders[0] != orders[1] != orders[2]  # each in its own order
    groups, _ = streaming.song_groups(str(tmp_path / "cache"), hparams, key=key)
    blocks = list(streaming.song_blocks(groups, hparams))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks]), np.concatenate(songs))


def test_an_unfinished_cache_or_another_layout_is_refused_in_one_line(tmp_path):
    folder = tmp_path / "flat"
    write_chord_songs(str(folder), count=2, frames=60)
    prepare(folder, tmp_path / "cache", valid_share=0.0)
    paper = rnn_rbm.paper_hparams(n_hidden=4)
    with pytest.raises(corpus.CacheError, match="another layout"):
        streaming.song_groups(str(tmp_path / "cache"), paper)
    with pytest.raises(corpus.CacheError, match="no valid songs"):
        streaming.song_groups(str(tmp_path / "cache"), rnn_rbm.HParams(n_hidden=4), "valid")
    head, entries = corpus.read_manifest(tmp_path / "cache")
    corpus.write_manifest(tmp_path / "cache", head | {"complete": False}, entries)
    with pytest.raises(corpus.CacheError, match="did not finish"):
        streaming.song_groups(str(tmp_path / "cache"), rnn_rbm.HParams(n_hidden=4))


def test_a_damaged_manifest_is_one_clear_error(tmp_path):
    folder = tmp_path / "flat"
    write_chord_songs(str(folder), count=2, frames=60)
    prepare(folder, tmp_path / "cache", valid_share=0.0)
    manifest = tmp_path / "cache" / corpus.MANIFEST
    manifest.write_text(manifest.read_text()[:-30])
    with pytest.raises(corpus.CacheError, match="not a readable manifest"):
        corpus.songs_of(str(tmp_path / "cache"), "train")
    manifest.write_text('{"format": "something else"}\n')
    with pytest.raises(corpus.CacheError, match="not a manifest of prepare_data.py"):
        corpus.songs_of(str(tmp_path / "cache"), "train")


def test_the_scripts_pretrain_and_train_from_a_cache(tmp_path, capsys):
    import rnn_rbm_train
    import weight_initializations
    folder, cache = tmp_path / "flat", str(tmp_path / "cache")
    write_chord_songs(str(folder), count=3, frames=80)
    prepare_data.main([str(folder), "--out", cache, "--valid-share", "0"])
    init = str(tmp_path / "ckpt" / "initialized")
    for source in (str(folder), cache):  # pre-training reads both the same way
        weight_initializations.main(["--data", source, "--out", init, "--epochs", "2",
                                     "--n-hidden", "8", "--force"])
    printed = capsys.readouterr().out.splitlines()
    errors = [line for line in printed if line.startswith("epoch 2/2")]
    assert len(errors) == 2 and errors[0] == errors[1]
    rnn_rbm_train.main(["2", "--data", cache, "--init", init, "--out-dir",
                        str(tmp_path / "ckpt"), "--k", "2", "--sample-every", "0"])
    printed = capsys.readouterr().out
    assert f"prepared corpus {cache}, 60 vectors; training epochs 1..2" in printed
    assert "epoch 2/2" in printed and "vectors/s" in printed
    assert os.path.exists(str(tmp_path / "ckpt" / "epoch-2.index"))
