"""Training on several devices or machines with `tf.distribute`: which strategy, and who logs.

Every replica holds a copy of the model and takes its share of each global batch; the gradients
are summed over the replicas before they are clipped and applied, so one update equals the one a
single device makes on the whole batch (`training.make_distributed_train_step`).

* "one": no strategy; the single-device code runs as it always has.
* "mirrored": `tf.distribute.MirroredStrategy`, one replica per local GPU (or the CPU).
* "multi_worker": `tf.distribute.MultiWorkerMirroredStrategy`, one process per machine, each told
  the cluster's addresses and its own place in it by the environment variable TF_CONFIG, e.g.

      TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:20000", "10.0.0.2:20000"]},
                  "task": {"type": "worker", "index": 0}}'

  with the same cluster on every machine and each machine's own index. Build this strategy before
  any other TensorFlow work in the process: it sets up the runtime's collective operations.
"""
import hashlib
import json
import os

import numpy as np
import tensorflow as tf

STRATEGIES = ("one", "mirrored", "multi_worker")
_HELP = "see docs/distributed.md"


def make_strategy(name):
    """The `tf.distribute.Strategy` called `name` (one of STRATEGIES), or None for "one".

    "multi_worker" must be made before TensorFlow runs its first operation in the process
    (TensorFlow refuses later: "Collective ops must be configured at program startup"), and
    waits until every worker of TF_CONFIG's cluster has started.
    """
    if name == "one":
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if tf_config() is None:
            raise ValueError(f"TF_CONFIG is not set: multi_worker needs it on every machine, "
                             f"{_HELP}")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}: use one of {', '.join(STRATEGIES)}")


def tf_config():
    """TF_CONFIG as a dict, checked to name a cluster and this process's task in it; None when
    it is not set. Raises ValueError, in one line, on anything a strategy would stumble over."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}); {_HELP}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG has no \"cluster\" of job names and addresses; {_HELP}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG has no \"task\" with a \"type\" and an \"index\"; {_HELP}")
    kind, index = task["type"], task["index"]
    members = cluster.get(kind)
    if not isinstance(members, list) or isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(members):
        raise ValueError(f"TF_CONFIG's task {kind!r} {index!r} is not in its cluster "
                         f"({', '.join(f'{k}: {len(v)}' for k, v in cluster.items())}); {_HELP}")
    return config


def is_chief():
    """Whether this process writes checkpoints and logs: the "chief" task, or worker 0 of a
    cluster without one; True without TF_CONFIG (a single process)."""
    config = tf_config()
    if config is None:
        return True
    task = config["task"]
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and task["index"] == 0 and "chief" not in config["cluster"]


def worker_name():
    """This process's task for log lines: "chief", "worker 1", ...; "chief" without TF_CONFIG."""
    config = tf_config()
    if config is None or config["task"]["type"] == "chief":
        return "chief"
    return f"{config['task']['type']} {config['task']['index']}"


def distributed_batches(strategy, batches, n_visible):
    """Global batches `(v, mask)` (a `tf.data.Dataset`, or an iterable of pairs such as a list or
    an epoch of `streaming.training_batches`) as `strategy`'s distributed dataset: each batch
    split in order over the replicas of every worker.

    Sharding by data (every worker reads the same batches and keeps its share of each) keeps
    all workers on the same number of steps, which the collective all-reduce needs; sharding by
    file could leave one worker a step short, waiting for ever.
    """
    if not isinstance(batches, tf.data.Dataset):  # drawn as the strategy asks, one pass
        spec = (tf.TensorSpec([None, None, n_visible], tf.float32),
                tf.TensorSpec([None, None], tf.float32))
        pairs = batches
        batches = tf.data.Dataset.from_generator(lambda: iter(pairs), output_signature=spec)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(batches.with_options(options))


def weights_digest(variables):
    """The first 16 hex digits of the SHA-256 of the variables' values, in order."""
    digest = hashlib.sha256()
    for variable in variables:
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()[:16]
