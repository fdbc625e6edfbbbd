"""Saving and loading models: TensorFlow checkpoints with their hyperparameters beside them.

A checkpoint `<prefix>` is `<prefix>.index` and `<prefix>.data-*` (the variables, through
`tf.train.Checkpoint`) plus `<prefix>.json`: the model's structure (`rnn_rbm.HParams`) and the
settings of the run that wrote it. Any script can rebuild the model from the prefix alone.

Files appear only when complete: the JSON is written under a temporary name and renamed, and a
plain `save` writes the variables under a temporary prefix and renames `.index` into place last.
Epoch checkpoints go through `tf.train.CheckpointManager`, which records a checkpoint in its state
file only after writing it, so `latest` never names a half-written one.
"""
import contextlib
import json
import os
import shutil

import tensorflow as tf

import rnn_rbm

EPOCH_NAME = "epoch"  # epoch checkpoints are <out-dir>/epoch-<n>


class CheckpointError(Exception):
    """A checkpoint is missing, incomplete or does not fit the model asked for."""


def exists(prefix):
    return os.path.isfile(prefix + ".index")


def write_json_atomically(path, values):
    """Writes `values` as JSON to `path` through a temporary file, so `path` is never partial."""
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(values, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)


def _write_description(prefix, model, run):
    values = {"model": json.loads(model.hparams.to_json())}
    if run:
        values["run"] = run
    write_json_atomically(prefix + ".json", values)


def save(prefix, model, run=None):
    """Writes `model` to `prefix` (`.index`, `.data-*`, `.json`), replacing what was there.

    Args:
      run: an optional dict of the run's settings (flags), kept in the JSON for the record.
    """
    folder, stem = os.path.split(prefix)
    if folder:
        os.makedirs(folder, exist_ok=True)
    _write_description(prefix, model, run)
    partial = prefix + ".partial"
    tf.train.Checkpoint(model=model).write(partial)
    for name in os.listdir(folder or "."):
        if name.startswith(stem + ".partial.data-"):
            os.replace(os.path.join(folder, name),
                       os.path.join(folder, stem + name[len(stem + ".partial"):]))
    os.replace(partial + ".index", prefix + ".index")  # last: .index marks a checkpoint


def epoch_manager(out_dir, **trackables):
    """A `tf.train.CheckpointManager` over `out_dir` keeping every `epoch-<n>` checkpoint."""
    checkpoint = tf.train.Checkpoint(**trackables)
    return tf.train.CheckpointManager(checkpoint, out_dir, max_to_keep=None,
                                      checkpoint_name=EPOCH_NAME)


def save_epoch(manager, model, epoch, run=None):
    """Writes `<out-dir>/epoch-<epoch>` and records it as the latest; returns its prefix."""
    os.makedirs(manager.directory, exist_ok=True)  # the manager makes it only when it saves
    prefix = os.path.join(manager.directory, f"{EPOCH_NAME}-{epoch}")
    _write_description(prefix, model, run)  # before the manager records the checkpoint
    return manager.save(checkpoint_number=epoch)


@contextlib.contextmanager
def folder_lock(out_dir):
    """Holds `<out_dir>/run.lock` for the duration of a training run.

    Creating the file is atomic, so of two runs started on one folder only one gets it; the other
    gets a `CheckpointError` naming the process that holds it. A lock left by a run that was
    killed (its process is gone) is taken over.
    """
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise CheckpointError(f"{out_dir}: is a file, not a folder; pick another --out-dir")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "run.lock")
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            holder = _lock_holder(path)
            if holder is not None:
                raise CheckpointError(f"{out_dir}: another training run (process {holder}) is "
                                      f"using this folder; wait for it or pick another "
                                      f"--out-dir") from None
            os.remove(path)  # left behind by a run that no longer exists
    else:
        raise CheckpointError(f"{out_dir}: cannot take {path}; remove it if no run is active")
    os.write(handle, f"{os.getpid()}\n".encode())
    os.close(handle)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def _lock_holder(path):
    """The live process id written in a lock file, or None if that process is gone."""
    try:
        with open(path, encoding="utf-8") as handle:
            pid = int(handle.read().strip() or 0)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def remove_leftovers(out_dir):
    """Deletes what a killed run can leave in `out_dir`: TensorFlow's `epoch-<n>_temp` folders,
    a `.partial` JSON, and the manager's temporary state files. Returns their names."""
    if not os.path.isdir(out_dir):
        return []
    gone = []
    for name in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, name)
        temp_folder = name.startswith(EPOCH_NAME + "-") and name.endswith("_temp")
        if temp_folder and os.path.isdir(path):
            shutil.rmtree(path)
        elif (name.startswith(EPOCH_NAME + "-") and name.endswith(".json.partial")
              or name.startswith("checkpoint.tmp")) and os.path.isfile(path):
            os.remove(path)
        else:
            continue
        gone.append(name)
    return gone


def set_aside_epochs(out_dir):
    """Moves an earlier run's epoch checkpoints and the manager's state file out of `out_dir`
    into a new subfolder `earlier-<i>`, so a later `--resume` cannot continue that run; returns
    the subfolder, or None if there was nothing to move."""
    if not os.path.isdir(out_dir):
        return None
    names = [n for n in os.listdir(out_dir) if n == "checkpoint" or n.startswith(EPOCH_NAME + "-")]
    if not names:
        return None
    i = 0
    while os.path.exists(os.path.join(out_dir, f"earlier-{i}")):
        i += 1
    target = os.path.join(out_dir, f"earlier-{i}")
    os.makedirs(target)
    for name in names:
        os.replace(os.path.join(out_dir, name), os.path.join(target, name))
    return target


def latest(path):
    """The checkpoint prefix `path` names: itself, or the latest epoch checkpoint of a folder."""
    if os.path.isdir(path) and not exists(path):
        state = tf.train.get_checkpoint_state(path)
        recorded = list(state.all_model_checkpoint_paths) if state else []
        found = [prefix for prefix in recorded if exists(prefix)]  # files lost since are skipped
        if not found:
            raise CheckpointError(f"{path}: folder holds no epoch checkpoint; pass a checkpoint "
                                  f"prefix such as parameter_checkpoints/pretrained")
        return found[-1]
    return path


def load_description(prefix):
    """`(HParams, run settings dict)` stored beside a checkpoint; `CheckpointError` if missing."""
    if not exists(prefix):
        raise CheckpointError(f"{prefix}: no checkpoint there (expected {prefix}.index); train "
                              f"one first or check the path")
    try:
        with open(prefix + ".json", encoding="utf-8") as handle:
            values = json.load(handle)
        if not isinstance(values, dict):
            raise ValueError("not a JSON object")
        if "model" not in values:  # older checkpoints: the hyperparameters alone
            values = {"model": values}
        return rnn_rbm.HParams.from_dict(values["model"]), values.get("run") or {}
    except (OSError, ValueError, TypeError, AttributeError, RecursionError) as e:
        raise CheckpointError(f"{prefix}: cannot read its hyperparameters ({e}); the checkpoint "
                              f"needs the {prefix}.json written beside it") from None


def newest_description(prefixes):
    """`(HParams, run settings)` of the newest of `prefixes` whose JSON reads; a `CheckpointError`
    if none does. Older ones are tried when the newest has lost its JSON (a killed save)."""
    for prefix in reversed(prefixes):
        try:
            return load_description(prefix)
        except CheckpointError:
            continue
    where = os.path.dirname(prefixes[-1]) if prefixes else "the folder"
    raise CheckpointError(f"{where}: no epoch checkpoint has its hyperparameters (.json); start "
                          f"over with --force")


def load_hparams(prefix):
    return load_description(prefix)[0]


def restore(prefix, model, **extra):
    """Reads `prefix` into `model` (and `extra` trackables such as an optimizer).

    Raises `CheckpointError` when the checkpoint is missing, damaged or of other sizes.
    """
    load_description(prefix)
    try:
        status = tf.train.Checkpoint(model=model, **extra).read(prefix)
        status.expect_partial()  # an optimizer's state may be left unread on purpose
        status.assert_existing_objects_matched()
    except AssertionError as e:
        if extra or not _restore_flat(prefix, model):
            raise _mismatch(prefix, e) from None
    except (ValueError, IndexError, tf.errors.OpError) as e:
        raise _mismatch(prefix, e) from None


def _mismatch(prefix, error):
    message = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return CheckpointError(f"{prefix}: does not match the model or is damaged ({message}); use "
                           f"a complete checkpoint made with the same sizes")


def _restore_flat(prefix, model):
    """Reads a checkpoint written before the distribution had a module of its own, when every
    variable sat directly on the model (`model/W`, `model/Wuu`, ...); False if it is not one."""
    reader = tf.train.load_checkpoint(prefix)
    named = [(name, v) for name, v in vars(model.distribution).items()
             if isinstance(v, tf.Variable)]
    named += [(name, v) for name, v in vars(model).items() if isinstance(v, tf.Variable)]
    keys = [f"model/{name}/.ATTRIBUTES/VARIABLE_VALUE" for name, _ in named]
    if not all(reader.has_tensor(key) for key in keys):
        return False
    values = [reader.get_tensor(key) for key in keys]
    if any(tuple(value.shape) != tuple(v.shape) for value, (_, v) in zip(values, named)):
        return False
    for value, (_, variable) in zip(values, named):
        variable.assign(value)
    return True


def export(source, target):
    """Writes the model of checkpoint `source` to `target` with the run settings recorded beside
    it, leaving out the optimizer's state and the epoch (a third of the size of an epoch
    checkpoint); refuses to replace an existing `target`."""
    if exists(target) or os.path.exists(target + ".json"):
        raise CheckpointError(f"{target}: a checkpoint is there already; remove it first")
    save(target, load(source), run=load_description(source)[1])


def load(prefix):
    """Rebuilds the model stored at checkpoint `prefix` from its hyperparameters and weights."""
    model = rnn_rbm.RnnRbm(load_hparams(prefix), seed=0)  # initial values are overwritten
    restore(prefix, model)
    return model
