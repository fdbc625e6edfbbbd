"""The data path at scale: preparing a corpus of 10,000+ MIDI files, the cache's size, training's
speed when it streams, and its memory at 1 and 10 times the corpus.

    python benchmarks/bench_data.py                  # the corpus is written under --work once
    python benchmarks/bench_data.py --files 2000     # a smaller corpus, quicker

The corpus is the paper's four benchmark datasets (all splits, `--data-dir`) written out as MIDI,
one chord an 8th note, each sequence transposed by 0, +1, -1, +2, ... semitones in turn until
there are `--files` files. It prints:
1. `prepare_data.py` on it with 1 and with 2 processes (fresh caches, timed as whole commands);
2. the cache's size beside the MIDI files' and the dense uint8 note-state matrices';
3. training's vectors per second on the bundled songs, from a cache against the in-memory path,
   the two alternating in one process (same model, same step, same vectors);
4. the peak memory of a training process streaming the cache and the cache copied 10 times
   (shards hard-linked, manifest lines repeated), each in its own process.
Each figure is printed beside its target.
"""
import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common  # first: puts the repository on the path and loads TensorFlow quietly
import numpy as np

import benchmark_data
import cli
import corpus
import layout
import midi_manipulation

# Defaults.
FILES = 10000            # MIDI files in the corpus
WORK = os.path.join(tempfile.gettempdir(), "rnn_rbm_bench_data")  # corpus and caches
DATA_DIR = os.path.join(common.ROOT, "..", "shared", "data")      # the four benchmark files
FRAMES_PER_STEP = 2      # 16th-note frames per benchmark time step (an 8th note)
EPOCHS = 6               # timed epochs of each path in the speed comparison
BLOCK = 3                # epochs of one path in a row there, the first untimed
MAX_WARM_UP = 30         # untimed epochs of each path at most (see compare_speed)
MEMORY_STEPS = 300       # training steps of each memory measurement
TIMES = 10               # the larger corpus, in copies of the corpus
SCRIPT = os.path.abspath(__file__)


def roll_to_states(roll):
    """A benchmark piano roll `[steps, 88]` (MIDI 21..108) -> a note-state matrix with
    FRAMES_PER_STEP frames a step; a key is struck where it was silent the step before; keys
    outside the note-state range are dropped."""
    low = layout.LOWEST_NOTE - layout.BENCHMARK_LOWEST
    play = np.asarray(roll, np.uint8)[:, low:low + layout.SPAN]
    struck = play & (1 - np.vstack([np.zeros_like(play[:1]), play[:-1]]))
    states = np.zeros((len(play) * FRAMES_PER_STEP, 2 * layout.SPAN), np.uint8)
    states[:, :layout.SPAN] = np.repeat(play, FRAMES_PER_STEP, axis=0)
    states[::FRAMES_PER_STEP, layout.SPAN:] = struck
    return states


def transposed(states, shift):
    """`states` moved by `shift` semitones, notes moved off either end dropped."""
    out = np.zeros_like(states)
    for half in (slice(0, layout.SPAN), slice(layout.SPAN, 2 * layout.SPAN)):
        src = states[:, half]
        if shift >= 0:
            out[:, half.start + shift:half.stop] = src[:, :layout.SPAN - shift]
        else:
            out[:, half.start:half.stop + shift] = src[:, -shift:]
    return out


def corpus_tasks(data_dir, files):
    """`(path stem, dataset file, split, index, shift)` of each file to write."""
    sources = []
    for name in sorted(os.listdir(data_dir)):
        if name.endswith(".json"):
            splits = benchmark_data.load_benchmark(os.path.join(data_dir, name))
            sources += [(name, s, i) for s in layout.BENCHMARK_SPLITS
                        for i in range(len(splits[s]))]
    if not sources:
        raise SystemExit(f"error: {data_dir}: no benchmark .json files; pass --data-dir "
                         f"(docs/benchmarks.md says where to get them)")
    shifts = [0] + [s for k in range(1, 7) for s in (k, -k)]
    return [(f"{name[:-5]}-{split}-{i:04d}{shifts[n // len(sources)]:+d}",
             os.path.join(data_dir, name), split, i, shifts[n // len(sources)])
            for n, (name, split, i) in enumerate(sources * len(shifts)) if n < files]


_LOADED = {}


def write_one(task, folder):
    stem, path, split, index, shift = task
    if path not in _LOADED:
        _LOADED[path] = benchmark_data.load_benchmark(path)
    states = transposed(roll_to_states(_LOADED[path][split][index]), shift)
    midi_manipulation.noteStateMatrixToMidi(states, os.path.join(folder, stem))


def _write_batch(args):
    tasks, folder = args
    for task in tasks:
        write_one(task, folder)
    return len(tasks)


def write_corpus(data_dir, folder, files):
    """Writes the corpus's MIDI files into `folder` unless it already holds them all."""
    tasks = corpus_tasks(data_dir, files)
    if len(tasks) < files:
        raise SystemExit(f"error: the four datasets give at most {len(tasks)} files; ask for "
                         f"fewer with --files")
    if os.path.isdir(folder) and len(os.listdir(folder)) == len(tasks):
        return tasks
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    batches = [(tasks[i:i + 200], folder) for i in range(0, len(tasks), 200)]
    with multiprocessing.get_context("spawn").Pool() as pool:
        for _ in cli.progress(pool.imap_unordered(_write_batch, batches), total=len(batches),
                              desc="writing MIDI"):
            pass
    return tasks


def time_prepare(folder, cache, processes):
    """Seconds `prepare_data.py` takes on `folder` into a fresh `cache`, as a whole command."""
    shutil.rmtree(cache, ignore_errors=True)
    command = [sys.executable, os.path.join(common.ROOT, "prepare_data.py"), folder, "--out",
               cache, "--processes", str(processes)]
    start = time.perf_counter()
    run_quietly(command)
    return time.perf_counter() - start


def run_quietly(command):
    """Runs a command, its output kept back (the skipped files' warnings) unless it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def sizes(cache):
    """`(cache bytes, MIDI bytes, dense uint8 bytes)` of a prepared corpus."""
    _, entries = corpus.read_manifest(cache)
    kept = [e for e in entries.values() if "shard" in e]
    shard_bytes = sum(os.path.getsize(os.path.join(cache, s)) for s in {e["shard"] for e in kept})
    dense = sum(e["frames"] for e in kept) * 2 * layout.SPAN
    return shard_bytes, sum(e["size"] for e in kept), dense


def copies(cache, out, times):
    """A cache holding `cache`'s songs `times` over: its shards hard-linked (copied where links
    are refused) under new run numbers, each manifest line repeated with its path marked."""
    head, entries = corpus.read_manifest(cache)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    repeated = {}
    for n in range(times):
        for path, entry in entries.items():
            if "shard" in entry:
                split, run, index = entry["shard"].split(".")[0].split("-")
                repeated[f"{path}#{n}"] = entry | {"path": f"{path}#{n}",
                                                   "shard": f"{split}-{n + 1:04d}-{index}"
                                                            f".tfrecord.gz"}
    for entry, source in ((e, entries[e["path"].rsplit("#", 1)[0]]) for e in repeated.values()):
        target = os.path.join(out, entry["shard"])
        if not os.path.exists(target):
            try:
                os.link(os.path.join(cache, source["shard"]), target)
            except OSError:
                shutil.copyfile(os.path.join(cache, source["shard"]), target)
    corpus.write_manifest(out, head, repeated)
    return out


def training_setup(seed=0):
    """The default model, its optimizer and train step, as `rnn_rbm_train.py` makes them."""
    import rnn_rbm
    import rnn_rbm_train
    import training
    common.tf.random.set_seed(seed)
    model = rnn_rbm.RnnRbm(rnn_rbm.HParams(), seed=seed)
    optimizer = training.make_optimizer("adam", model.trainable_variables,
                                        rnn_rbm_train.LEARNING_RATE)
    step = training.make_train_step(model, optimizer, layout.K_TRAIN, rnn_rbm_train.GRAD_CLIP,
                                    rnn_rbm_train.DROPOUT, from_silence=True)
    return model, step


def epoch_speed(step, batches, shapes=None):
    """Vectors a second over one pass of `step` over `batches` (the data's own time included).
    Adds to the set `shapes` what XLA compiles its kernels for: each batch's size and length and
    the chain's padded row count (`RBM.padded_rows`)."""
    import RBM
    start, vectors = time.perf_counter(), 0.0
    for v, mask in batches:
        step(v, mask).numpy()
        real = float(np.sum(mask))
        vectors += real
        if shapes is not None:
            shapes.add((*np.shape(v)[:2], int(RBM.padded_rows(real))))
    return vectors / (time.perf_counter() - start)


def compare_speed(midi_dir, cache, epochs):
    """`(in-memory, streamed, warm-up epochs)`: median vectors a second over `epochs` epochs of
    each path, in runs of BLOCK epochs of one path then BLOCK of the other, after warm-up epochs
    of both until neither meets a shape it has not met before.

    The stream reads the next epoch's songs while the last batches of an epoch train, so the first
    epoch of a run gains from reading done while the other path trained, and the other path's
    first epoch after it pays for that reading: only the later epochs of each run are timed.

    XLA compiles the Gibbs chain and the recurrence once per shape (batch size, length, the
    chain's padded rows). The in-memory path meets the same batches every epoch, so it has
    compiled all its shapes after one epoch; a stream meets new mixes of chunk lengths, and its
    first epochs also pay for each new shape, a cost a corpus large enough to need streaming
    pays once in a long epoch. The figures are of the steady state after that.
    """
    import data
    import rnn_rbm_train
    import streaming
    import training
    model, step = training_setup()
    songs = data.load_songs(model.hparams, midi_dir=midi_dir, key=layout.KEY)
    padded = list(training.batches(training.split_into_chunks(songs, rnn_rbm_train.CHUNK_LENGTH),
                                   rnn_rbm_train.BATCH_SIZE))
    rng = np.random.default_rng(0)
    next_epoch, _ = streaming.training_batches(cache, model.hparams, layout.KEY,  # as the trainer
                                               rnn_rbm_train.CHUNK_LENGTH,
                                               rnn_rbm_train.BATCH_SIZE, seed=0)

    def in_memory():
        order = list(padded)
        rng.shuffle(order)
        return order

    shapes, warm_up, before = set(), 0, -1
    while len(shapes) != before and warm_up < MAX_WARM_UP:
        before, warm_up = len(shapes), warm_up + 1
        epoch_speed(step, in_memory(), shapes)
        epoch_speed(step, next_epoch(), shapes)
    memory, streamed = [], []
    while len(memory) < epochs:  # runs of BLOCK epochs, the first of each untimed
        memory += [epoch_speed(step, in_memory()) for _ in range(BLOCK)][1:]
        streamed += [epoch_speed(step, next_epoch()) for _ in range(BLOCK)][1:]
    return statistics.median(memory), statistics.median(streamed), warm_up


def memory_child(cache, steps):
    """Run in a child process: trains `steps` steps streaming `cache` (epoch after epoch) and
    prints its peak resident memory in MiB as JSON."""
    import rnn_rbm_train
    import streaming
    model, step = training_setup()
    next_epoch, _ = streaming.training_batches(cache, model.hparams, layout.KEY,  # as the trainer
                                               rnn_rbm_train.CHUNK_LENGTH,
                                               rnn_rbm_train.BATCH_SIZE, seed=0)
    done = 0
    while done < steps:  # epoch after epoch, reshuffled each time
        for v, mask in next_epoch():
            step(v, mask).numpy()
            done += 1
            if done == steps:
                break
    print(json.dumps({"peak_mib": common.peak_rss_gib() * 1024, "steps": done}))


def peak_memory(cache, steps):
    out = run_quietly([sys.executable, SCRIPT, "--memory-child", cache, "--steps", str(steps)])
    return json.loads(out.strip().splitlines()[-1])["peak_mib"]


def verdict(value, target, at_least=True):
    met = value >= target if at_least else value <= target
    return f"target {'>=' if at_least else '<='} {target}: {'met' if met else 'MISSED'}"


def parse_args():
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=cli.positive_int, default=FILES,
                   help="MIDI files in the corpus (default %(default)s)")
    p.add_argument("--work", default=WORK,
                   help="folder for the corpus and its caches, reused between runs "
                        "(default %(default)s)")
    p.add_argument("--data-dir", default=os.path.normpath(DATA_DIR),
                   help="folder of the benchmark .json files (default %(default)s)")
    p.add_argument("--midi-dir", default=common.POP_DIR,
                   help="songs of the speed comparison (default %(default)s)")
    p.add_argument("--epochs", type=cli.positive_int, default=EPOCHS,
                   help="timed epochs of each path in the speed comparison (default %(default)s)")
    p.add_argument("--steps", type=cli.positive_int, default=MEMORY_STEPS,
                   help="training steps of each memory measurement (default %(default)s)")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    return p.parse_args()


def main():
    args = parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.steps)
    folder = os.path.join(args.work, "midi")
    tasks = write_corpus(args.data_dir, folder, args.files)
    print(f"corpus: {len(tasks)} MIDI files in {folder}")
    one = time_prepare(folder, os.path.join(args.work, "cache1"), 1)
    two = time_prepare(folder, os.path.join(args.work, "cache2"), 2)
    print(f"prepare, 1 process:   {one:7.1f} s  {len(tasks) / one:6.1f} files/s")
    print(f"prepare, 2 processes: {two:7.1f} s  {len(tasks) / two:6.1f} files/s  "
          f"{one / two:.2f} times faster  ({verdict(round(one / two, 2), 1.7)})")
    cache = os.path.join(args.work, "cache2")
    cached, midi, dense = sizes(cache)
    print(f"cache {cached / 2**20:.1f} MiB; MIDI {midi / 2**20:.1f} MiB; dense uint8 "
          f"{dense / 2**20:.1f} MiB: the cache is {cached / dense:.4f} of the dense size  "
          f"({verdict(round(cached / dense, 4), 0.125, at_least=False)})")
    pop = os.path.join(args.work, "pop_cache")
    shutil.rmtree(pop, ignore_errors=True)
    run_quietly([sys.executable, os.path.join(common.ROOT, "prepare_data.py"), args.midi_dir,
                 "--out", pop, "--valid-share", "0"])
    memory, stream, warm_up = compare_speed(args.midi_dir, pop, args.epochs)
    print(f"training on {args.midi_dir} (after {warm_up} epochs of each to compile): in memory "
          f"{memory:,.0f} vectors/s, streamed from the cache {stream:,.0f} vectors/s: "
          f"{stream / memory:.3f} of it  "
          f"({verdict(round(stream / memory, 3), 0.9)})")
    large = copies(cache, os.path.join(args.work, f"cache_x{TIMES}"), TIMES)
    small_mib, large_mib = peak_memory(cache, args.steps), peak_memory(large, args.steps)
    print(f"peak memory of {args.steps} training steps streaming: {small_mib:,.0f} MiB from the "
          f"corpus, {large_mib:,.0f} MiB from {TIMES} times it: {large_mib / small_mib:.3f}  "
          f"({verdict(round(large_mib / small_mib, 3), 1.2, at_least=False)})")


if __name__ == "__main__":
    main()
