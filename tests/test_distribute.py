"""The distributed train step makes the single-device update; choosing a strategy; TF_CONFIG.

Two replicas need two logical CPU devices, which must be set up before TensorFlow starts its
devices, and other tests in this process have started them: the step's checks run in a fresh
Python (`two_replica_checks`, called in a subprocess) that writes its numbers to a JSON file.
"""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import distribute
import RBM
import rnn_rbm
import training

HPARAMS = rnn_rbm.HParams(n_hidden=5, n_hidden_recurrent=4, lowest_note=0, highest_note=6,
                          num_timesteps=1, articulation=False)
EXACT = dataclasses.replace(HPARAMS, distribution="bernoulli")  # nothing drawn: repeatable
K = 3
TIGHT_CLIP = 0.05  # below most gradient elements of this batch, so the clipping bites
# Each case: a global batch (its chunks' lengths) and the gradient clip.
CASES = {"batch 4": ([5, 3, 7, 4], 10.0), "batch 4 clipped": ([5, 3, 7, 4], TIGHT_CLIP),
         "batch 3": ([5, 3, 7], 10.0), "batch 1": ([5], 10.0)}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _batch(lengths, seed=0):
    rng = np.random.default_rng(seed)
    songs = [(rng.random([n, HPARAMS.n_visible]) < 0.4).astype(np.float32) for n in lengths]
    return training.pad_batch(songs, HPARAMS.n_visible)


def _model(hparams):
    """A model with O(1) weights, the same every time."""
    model = rnn_rbm.RnnRbm(hparams, seed=1)
    rng = np.random.default_rng(1)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0, 0.5, variable.shape).astype(np.float32))
    return model


def _distributed(strategy, batches):
    """The distributed dataset of the global `batches`, batch and time left open as in
    training."""
    signature = tuple(training.batch_signature(HPARAMS.n_visible))
    data = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=signature)
    return strategy.experimental_distribute_dataset(data)


def _one_device_step(model, noise, grad_clip):
    """`make_train_step`'s update with the chain's noise given (its first rows, one a frame)."""
    optimizer = training.make_optimizer("sgd", model.trainable_variables, 1.0)

    def cost(v, mask):
        rows = tf.reduce_sum(tf.cast(mask > 0.5, tf.int32))
        return model.training_cost(v, mask, K, noise=tuple(u[:, :rows] for u in noise))

    return tf.function(lambda v, mask: training.clipped_update(
        optimizer, model.trainable_variables, lambda: cost(v, mask), grad_clip),
        input_signature=training.batch_signature(HPARAMS.n_visible))


def _mirrored_step(strategy, model, optimizer, noise, grad_clip):
    """The distributed step whose replicas run their chains on their rows of `noise`, replica r
    from row `first[r]` on; `first` is a variable to set for each batch."""
    first = tf.Variable([0, 0], dtype=tf.int32)

    def cost_fn(v, mask):
        start = tf.gather(first, tf.distribute.get_replica_context().replica_id_in_sync_group)
        rows = tf.reduce_sum(tf.cast(mask > 0.5, tf.int32))
        return model.training_cost(v, mask, K, noise=tuple(u[:, start:start + rows]
                                                           for u in noise))

    step = training.make_distributed_train_step(strategy, model, optimizer, K, grad_clip,
                                                cost_fn=cost_fn)
    return step, first


def _update_cases(strategy):
    """Each case's cost and weight changes (SGD at rate 1: minus the clipped gradient) on one
    device and on two replicas with the same noise, and how the batch was split: the sizes of
    the replicas' shares and whether they are the batch in order."""
    noise = RBM.uniform_noise(K, max(sum(n) for n, _ in CASES.values()), HPARAMS.n_hidden,
                              HPARAMS.n_visible)
    values = [x.numpy() for x in _model(HPARAMS).trainable_variables]
    one, steps, results = _model(HPARAMS), {}, {}
    with strategy.scope():
        replicated = _model(HPARAMS)
        optimizer = training.make_optimizer("sgd", replicated.trainable_variables, 1.0)
    for name, (lengths, grad_clip) in CASES.items():
        if grad_clip not in steps:
            steps[grad_clip] = (_one_device_step(one, noise, grad_clip),
                                *_mirrored_step(strategy, replicated, optimizer, noise, grad_clip))
        one_step, mirrored_step, first = steps[grad_clip]
        batch = _batch(lengths)
        (v, mask), = _distributed(strategy, [batch])
        shares = [x.numpy() for x in strategy.experimental_local_results(v)]
        masks = [x.numpy() for x in strategy.experimental_local_results(mask)]
        # The shares are consecutive sequences, so their real frames are consecutive rows of the
        # global batch's, and of the noise.
        first.assign(np.cumsum([0] + [int(m.sum()) for m in masks[:-1]]))
        for model in (one, replicated):
            for x, value in zip(model.trainable_variables, values):
                x.assign(value)
        cost, m_cost = float(one_step(*batch)), float(mirrored_step(v, mask))
        results[name] = {
            "cost_one": cost, "cost_mirrored": m_cost, "sizes": [len(x) for x in shares],
            "in_order": bool(np.array_equal(np.concatenate(shares), batch[0])),
            **{f"deltas_{kind}": [(x.numpy() - s).tolist()
                                  for x, s in zip(model.trainable_variables, values)]
               for kind, model in (("one", one), ("mirrored", replicated))}}
    results["optimizer_steps"] = int(optimizer.iterations.numpy())
    results["traces"] = [s[1].experimental_get_tracing_count() for s in steps.values()]
    return results


def _adam_runs(strategy):
    """Four Adam steps of an exact model (nothing drawn) on batches of 4, 3, 1 and 2 chunks, by
    `make_train_step` and by the distributed step with its own cost: the costs and final
    weights of both, and how often the distributed step was traced."""
    batches = [_batch(lengths, seed) for seed, lengths in enumerate([[5, 3, 7, 4], [2, 6, 4],
                                                                     [3], [4, 4]])]
    model = _model(EXACT)
    optimizer = training.make_optimizer("adam", model.trainable_variables, 0.01)
    step = training.make_train_step(model, optimizer, K)
    one = [float(step(*b)) for b in batches]
    with strategy.scope():
        replicated = _model(EXACT)
        optimizer = training.make_optimizer("adam", replicated.trainable_variables, 0.01)
    step = training.make_distributed_train_step(strategy, replicated, optimizer, K)
    mirrored = [float(step(v, mask)) for v, mask in _distributed(strategy, batches)]
    return {"costs_one": one, "costs_mirrored": mirrored,
            "weights_one": [x.numpy().tolist() for x in model.trainable_variables],
            "weights_mirrored": [x.numpy().tolist() for x in replicated.trainable_variables],
            "traces": step.experimental_get_tracing_count()}


def _sampled_run(strategy):
    """Costs of 3 steps of the RBM with dropout and its own draws, a batch of 1 among them (one
    replica idle), and the seed each replica's cost was given in the first step."""
    with strategy.scope():
        model = _model(HPARAMS)
        optimizer = training.make_optimizer("adam", model.trainable_variables, 0.01)
        # One copy per replica, each written by its own replica only.
        seen = tf.Variable([0, 0], dtype=tf.int64,
                           synchronization=tf.VariableSynchronization.ON_READ,
                           aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    cost = model.training_cost

    def spied_cost(v, mask, k, seed=None, **kwargs):
        with tf.control_dependencies([seen.assign(seed)]):
            return cost(v, mask, k, seed=seed, **kwargs)

    model.training_cost = spied_cost
    step = training.make_distributed_train_step(strategy, model, optimizer, K, dropout=0.2,
                                                from_silence=True)
    batches = [_batch([5, 3, 7, 4]), _batch([5]), _batch([3, 6], 1)]
    costs, seeds = [], None
    for v, mask in _distributed(strategy, batches):
        costs.append(float(step(v, mask)))
        seeds = seeds or [x.numpy().tolist() for x in strategy.experimental_local_results(seen)]
    return {"costs": costs, "seeds": seeds}


def two_replica_checks(out_path):
    """Runs every two-replica check on two logical CPUs and writes the results to `out_path`."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy()
    results = {"replicas": strategy.num_replicas_in_sync, "updates": _update_cases(strategy),
               "adam": _adam_runs(strategy), "sampled": _sampled_run(strategy)}
    with open(out_path, "w") as f:
        json.dump(results, f)


@pytest.fixture(scope="module")
def two_replicas(tmp_path_factory):
    out = tmp_path_factory.mktemp("distribute") / "results.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, "tests")]))
    code = ("import quiet_tensorflow, test_distribute; "
            f"test_distribute.two_replica_checks({str(out)!r})")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out) as f:
        return json.load(f)


def test_a_global_batch_is_split_in_order_larger_share_first(two_replicas):
    assert two_replicas["replicas"] == 2
    expected = {"batch 4": [2, 2], "batch 4 clipped": [2, 2], "batch 3": [2, 1], "batch 1": [1, 0]}
    for name, sizes in expected.items():
        assert two_replicas["updates"][name]["sizes"] == sizes, name
        assert two_replicas["updates"][name]["in_order"], name


@pytest.mark.parametrize("name", list(CASES))
def test_two_replicas_make_the_one_device_update(two_replicas, name):
    case = two_replicas["updates"][name]
    assert abs(case["cost_one"]) > 1e-3  # a cost of 0 would make the comparison empty
    np.testing.assert_allclose(case["cost_mirrored"], case["cost_one"], rtol=1e-5, atol=1e-6)
    for i, (got, expected) in enumerate(zip(case["deltas_mirrored"], case["deltas_one"])):
        got, expected = np.array(got), np.array(expected)
        assert np.all(np.isfinite(got)) and np.abs(expected).max() > 0, i
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=f"variable {i}")


def test_the_tight_clip_bites_on_the_global_gradient(two_replicas):
    case = two_replicas["updates"]["batch 4 clipped"]
    deltas = np.concatenate([np.ravel(d) for d in case["deltas_one"]])
    clipped = np.isclose(np.abs(deltas), TIGHT_CLIP, rtol=1e-6)
    assert clipped.mean() > 0.3 and not clipped.all()


def test_each_update_counts_once_and_one_trace_serves_every_batch(two_replicas):
    updates = two_replicas["updates"]
    assert updates["optimizer_steps"] == len(CASES)  # not once per replica
    assert updates["traces"] == [1, 1] and two_replicas["adam"]["traces"] == 1


def test_two_replicas_follow_make_train_step_over_adam_steps(two_replicas):
    adam = two_replicas["adam"]
    np.testing.assert_allclose(adam["costs_mirrored"], adam["costs_one"], rtol=1e-5, atol=1e-6)
    for i, (got, expected) in enumerate(zip(adam["weights_mirrored"], adam["weights_one"])):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=f"variable {i}")


def test_sampled_steps_are_finite_and_each_replica_draws_its_own(two_replicas):
    sampled = two_replicas["sampled"]
    assert len(sampled["costs"]) == 3 and np.all(np.isfinite(sampled["costs"]))
    seeds = sampled["seeds"]
    assert len(seeds) == 2 and seeds[0] != seeds[1]


def test_seeded_training_cost_is_a_function_of_its_seed():
    model = _model(HPARAMS)
    v, mask = (tf.constant(x) for x in _batch([5, 3, 7, 4]))

    def cost(seed):
        return float(model.training_cost(v, mask, K, dropout=0.3,
                                         seed=tf.constant(seed, tf.int64)))

    assert cost([1, 2]) == cost([1, 2]) != cost([1, 3])


def test_make_strategy_refuses_unknown_names_and_a_missing_or_broken_tf_config(monkeypatch):
    assert distribute.make_strategy("one") is None
    with pytest.raises(ValueError, match="unknown strategy 'many'"):
        distribute.make_strategy("many")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG is not set"):
        distribute.make_strategy("multi_worker")
    broken = {"{cluster": "not valid JSON",
              '{"task": {"type": "worker", "index": 0}}': "no \"cluster\"",
              '{"cluster": {"worker": ["a:1"]}}': "no \"task\"",
              '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker"}}': "no \"task\"",
              '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}':
                  "not in its cluster"}
    for text, complaint in broken.items():
        monkeypatch.setenv("TF_CONFIG", text)
        with pytest.raises(ValueError, match="TF_CONFIG") as raised:
            distribute.make_strategy("multi_worker")
        assert complaint in str(raised.value) and "\n" not in str(raised.value), text


@pytest.mark.parametrize("cluster, task, chief, name", [
    (None, None, True, "chief"),
    ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 0}, True, "worker 0"),
    ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}, False, "worker 1"),
    ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "chief", "index": 0}, True, "chief"),
    ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "worker", "index": 0}, False, "worker 0"),
    ({"worker": ["a:1"], "evaluator": ["e:1"]}, {"type": "evaluator", "index": 0}, False,
     "evaluator 0"),
])
def test_is_chief_and_worker_name_read_tf_config(monkeypatch, cluster, task, chief, name):
    if cluster is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert distribute.is_chief() is chief
    assert distribute.worker_name() == name


def _free_ports(count):
    """Ports free on the loopback interface now (bound to port 0, then released)."""
    import socket
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_worker_processes_train_two_epochs_to_identical_weights(tmp_path):
    from helpers import write_chord_songs

    import weight_initializations
    songs, out = str(tmp_path / "songs"), str(tmp_path / "run")
    write_chord_songs(songs, count=3, frames=96)
    init = str(tmp_path / "init" / "initialized")
    weight_initializations.main(["--data", songs, "--out", init, "--epochs", "2",
                                 "--n-hidden", "8", "--n-hidden-recurrent", "6"])
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster,
                                                     "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, os.path.join(REPO, "rnn_rbm_train.py"), "2", "--data", songs,
             "--init", init, "--out-dir", out, "--strategy", "multi_worker", "--k", "2",
             "--batch-size", "3", "--chunk-length", "5", "--sample-every", "0"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        printed = [worker.communicate(timeout=240)[0] for worker in workers]
    finally:
        for worker in workers:  # a worker whose peer died waits for ever: never leave one behind
            if worker.poll() is None:
                worker.kill()
    for worker, text in zip(workers, printed):
        assert worker.returncode == 0, text[-2000:]
    costs = [[line.split("  ")[1] for line in text.splitlines() if line.startswith("epoch ")]
             for text in printed]  # "cost -1.2345" of each epoch
    assert len(costs[0]) == 2 and costs[0] == costs[1]
    digests = [line.split("weights sha256 ")[1] for text in printed
               for line in text.splitlines() if "weights sha256" in line]
    assert len(digests) == 2 and digests[0] == digests[1], printed
    assert "2 replicas" in printed[0] and "epoch 2/2" in printed[1]
    # Only the chief (worker 0) wrote into --out-dir: the epoch checkpoint and the logs.
    assert sorted(os.listdir(out)) == ["checkpoint", "epoch-2.data-00000-of-00001",
                                       "epoch-2.index", "epoch-2.json", "logs"]
