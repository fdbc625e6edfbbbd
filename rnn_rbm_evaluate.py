"""Scores a trained model on a polyphonic benchmark split, beside Table 1 of the paper.

    python rnn_rbm_evaluate.py CHECKPOINT --dataset ../shared/data/jsb_chorales.json [--split test]

CHECKPOINT is a prefix written by the training scripts (e.g. parameter_checkpoints/jsb/epoch-500);
the model must have the paper's 88 visible units (MIDI 21..108, one frame per vector, no
articulation half). Prints LL (nats per time step) and ACC (expected frame accuracy, %) beside the
paper's RNN-RBM, RNN-NADE (HF) and RNN (HF) rows; `evaluation.py` says how each is computed and
`docs/evaluation.md` what they cost. `--ais-betas 300` is a fair quick setting and
`--max-sequences 10` a quicker one.

The figures also go to TensorBoard (see summaries.py): scalars `evaluate/<split>/<figure>` at the
checkpoint's epoch, with the flags and the paper's row as text, under `--logdir`.
"""
import quiet_tensorflow  # noqa: F401  (first: TensorFlow without its start-up lines)

import os
import re
import sys
import time
from typing import NamedTuple

import numpy as np
import tensorflow as tf

import benchmark_data
import checkpoints
import cli
import evaluation
import layout
import summaries

SPLIT = "test"          # the split scored; model selection belongs to "valid", never to "test"
AIS_RUNS = 100          # AIS runs per conditional RBM, as in the paper
AIS_BETAS = 1000        # intermediate distributions (14500 is Salakhutdinov & Murray's schedule)
ACC_SAMPLES = 100       # sampled predictions of each frame (the mode is picked among them)
ACC_GIBBS = 1000        # Gibbs steps per sampled prediction of an RBM: long enough to forget the
                        # chain's start
FRAMES_PER_BATCH = 128  # conditional RBMs processed together (memory ~ frames x runs x n_hidden)
SEED = 1234             # seeds TensorFlow's and numpy's random draws


class Score(NamedTuple):
    ll: float   # log-likelihood per time step, nats
    acc: float  # expected frame accuracy, %


class PaperRow(NamedTuple):
    name: str
    rnn_rbm: Score
    rnn_nade: Score  # RNN-NADE trained with Hessian-free optimisation
    rnn: Score       # plain RNN, Hessian-free


# Table 1 of the paper, keyed by a word of the benchmark file's name.
PAPER_TABLE = {
    "piano": PaperRow("Piano-midi.de", Score(-7.09, 28.92), Score(-7.05, 23.42),
                      Score(-7.66, 23.34)),
    "nottingham": PaperRow("Nottingham", Score(-2.39, 75.40), Score(-2.31, 71.50),
                           Score(-3.89, 66.64)),
    "muse": PaperRow("MuseData", Score(-6.01, 34.02), Score(-5.60, 32.60), Score(-7.19, 30.49)),
    "jsb": PaperRow("JSB Chorales", Score(-6.27, 33.12), Score(-5.56, 32.50),
                    Score(-8.58, 29.41)),
}
RANDOM_LL = -layout.BENCHMARK_KEYS * np.log(2.0)  # every frame equally likely: -61.00


def paper_row(dataset_path):
    """The paper's `PaperRow` for the dataset named by the file, or None."""
    name = os.path.basename(dataset_path).lower()
    return next((row for key, row in PAPER_TABLE.items() if key in name), None)


def parse_args(argv):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=cli.checkpoint_path,
                   help="checkpoint prefix (e.g. parameter_checkpoints/jsb/epoch-500)")
    p.add_argument("--dataset", required=True,
                   help="benchmark file in the paper's format, .json or .pickle")
    p.add_argument("--split", default=SPLIT, choices=layout.BENCHMARK_SPLITS,
                   help="split to score (default %(default)s)")
    p.add_argument("--max-sequences", type=cli.non_negative_int, default=0,
                   help="score only the first N sequences of the split (0 = all)")
    ll = p.add_argument_group("log-likelihood (AIS, for an RBM at each step)")
    ll.add_argument("--ais-runs", type=int, default=AIS_RUNS,
                    help="AIS runs per time step, at least 2 (default %(default)s, as the paper)")
    ll.add_argument("--ais-betas", type=cli.positive_int, default=AIS_BETAS,
                    help="AIS intermediate distributions, spaced as Salakhutdinov & Murray's "
                         "500/4000/10000 scaled to this total (default %(default)s)")
    acc = p.add_argument_group("accuracy")
    acc.add_argument("--acc-samples", type=cli.positive_int, default=ACC_SAMPLES,
                     help="sampled predictions per frame (default %(default)s)")
    acc.add_argument("--acc-gibbs", type=cli.positive_int, default=ACC_GIBBS,
                     help="Gibbs steps per sampled prediction of an RBM (default %(default)s)")
    p.add_argument("--batch", type=cli.positive_int, default=FRAMES_PER_BATCH,
                   help="time steps processed together (default %(default)s)")
    p.add_argument("--seed", type=int, default=SEED, help="random seed (default %(default)s)")
    p.add_argument("--logdir",
                   help="where the TensorBoard event file goes (default <checkpoint's "
                        "folder>/logs/evaluate, beside training's <out-dir>/logs, so one "
                        "`tensorboard --logdir <out-dir>/logs` shows both)")
    args = p.parse_args(argv)
    if args.ais_runs < 2:
        p.error("--ais-runs must be at least 2 (the runs are used in two halves)")
    if args.logdir is None:
        args.logdir = os.path.join(os.path.dirname(args.checkpoint), "logs", "evaluate")
    return args


def load_inputs(args):
    """The model and the split's piano rolls; exits with one line if either is unusable."""
    try:
        model = checkpoints.load(args.checkpoint)
        rolls = benchmark_data.load_benchmark(args.dataset)[args.split]
    except (checkpoints.CheckpointError, benchmark_data.BenchmarkError) as e:
        sys.exit(f"error: {e}")
    hp = model.hparams
    if hp.n_visible != layout.BENCHMARK_KEYS or hp.lowest_note != layout.BENCHMARK_LOWEST:
        sys.exit(f"error: {args.checkpoint}: the model has {hp.n_visible} visible units from MIDI "
                 f"{hp.lowest_note}, the benchmarks need {layout.BENCHMARK_KEYS} from MIDI "
                 f"{layout.BENCHMARK_LOWEST}; train it with --dataset (the paper setting)")
    if args.max_sequences > 0:
        rolls = rolls[:args.max_sequences]
    if not sum(len(r) for r in rolls):
        sys.exit(f"error: {args.dataset}: split {args.split!r} has no time steps; pick another")
    return model, rolls


def score_ll(model, frames, previous, biases, args):
    """Every time step's LL, printing the mean with how it was computed."""
    start, distribution = time.time(), model.distribution
    if distribution.exact:
        ll = evaluation.exact_log_likelihoods(distribution, frames, biases, args.batch)
        print(f"LL   {ll.mean():.3f} nats per time step   (exact: each step is a "
              f"{type(distribution).__name__}; {time.time() - start:.0f} s)")
        return ll
    betas = evaluation.ais_betas(args.ais_betas)
    ll, found = evaluation.log_likelihoods(distribution.W.numpy(), frames, previous, *biases,
                                           betas, args.ais_runs, args.batch, args.seed)
    print(f"LL   {ll.mean():.3f} nats per time step   (AIS: {args.ais_runs} runs, "
          f"{args.ais_betas} betas; the found states held {100 * found.mean():.1f} % of Z, mean "
          f"over steps; {time.time() - start:.0f} s)")
    return ll


def score_acc(model, frames, previous, biases, args):
    """`(ACC, ACC of the mode, ACC of the pooled counts)` as shares, printing all three."""
    start = time.time()
    expected, mode, pooled = evaluation.frame_scores(model.distribution, frames, previous, biases,
                                                     args.acc_samples, args.acc_gibbs, args.batch)
    how = "exact draws" if model.distribution.exact else f"{args.acc_gibbs} Gibbs steps"
    error = 100 * expected.std() / np.sqrt(len(expected))
    print(f"ACC  {100 * expected.mean():.2f} %   (mean over time steps of each step's expected "
          f"accuracy, standard error {error:.2f}; {args.acc_samples} samples per frame, {how}; "
          f"{time.time() - start:.0f} s)")
    print(f"     {100 * mode.mean():.2f} %   (most probable of each frame's samples, mean over "
          f"time steps)")
    tp, fp, fn = pooled
    acc_pooled = float(evaluation.accuracy(*pooled))
    print(f"     {100 * acc_pooled:.2f} %   (sampled frames, counts pooled over the split: TP {tp} "
          f"FP {fp} FN {fn})")
    return expected.mean(), mode.mean(), acc_pooled


def print_table(dataset, ll, acc, acc_mode, acc_repeat):
    """Our figures beside the paper's rows for the dataset and two baselines."""
    row = "{:<24}{:>10}{:>10}{:>14}"
    print(row.format("", "LL", "ACC %", "ACC % (mode)"))
    print(row.format("this model", f"{ll:.2f}", f"{100 * acc:.2f}", f"{100 * acc_mode:.2f}"))
    paper = paper_row(dataset)
    if paper:
        for label, score in (("paper RNN-RBM", paper.rnn_rbm), ("paper RNN-NADE (HF)",
                                                                paper.rnn_nade),
                             ("paper RNN (HF)", paper.rnn)):
            print(row.format(label, f"{score.ll:.2f}", f"{score.acc:.2f}", "-"))
    print(row.format("repeat previous frame", "-", "-", f"{100 * acc_repeat:.2f}"))
    print(row.format("random (-88 ln 2)", f"{RANDOM_LL:.2f}", "-", "-"))


def checkpoint_epoch(prefix):
    """The epoch a checkpoint was saved at: its `epoch` variable (training's epoch checkpoints
    hold one), else the n of an `epoch-<n>` name, else 0 (an exported or pre-trained model)."""
    try:
        return int(tf.train.load_checkpoint(prefix).get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    except (tf.errors.OpError, ValueError, TypeError):
        match = re.fullmatch(rf"{checkpoints.EPOCH_NAME}-(\d+)", os.path.basename(prefix))
        return int(match.group(1)) if match else 0


def paper_markdown(dataset, ll, acc):
    """Our LL and ACC beside the paper's rows for the dataset, as a Markdown table."""
    lines = ["| | LL | ACC % |", "|---|---:|---:|", f"| this model | {ll:.2f} | {100 * acc:.2f} |"]
    paper = paper_row(dataset)
    if paper is None:
        name = os.path.basename(dataset)
        return "\n".join(lines + ["", f"The paper's Table 1 has no row for {name}."])
    for label, score in (("RNN-RBM", paper.rnn_rbm), ("RNN-NADE (HF)", paper.rnn_nade),
                         ("RNN (HF)", paper.rnn)):
        lines.append(f"| paper {label} ({paper.name}) | {score.ll:.2f} | {score.acc:.2f} |")
    return "\n".join(lines)


def log_figures(args, figures, paper):
    """Writes `figures` ({name: value as printed}) to TensorBoard; a logdir that cannot be written
    costs one line on stderr, never the evaluation (its figures are printed already)."""
    step, prefix = checkpoint_epoch(args.checkpoint), f"evaluate/{args.split}"
    try:
        summaries.log_scores(args.logdir, {f"{prefix}/{k}": v for k, v in figures.items()}, step,
                             {f"{prefix}/flags": summaries.code_block(vars(args)),
                              f"{prefix}/paper": paper})
    except (tf.errors.OpError, OSError, ValueError) as e:
        # TensorFlow's messages start with the op's internal name and end with its type: the
        # cause alone, on one line, is what the user can act on.
        message = str(e).split("}}")[-1].split(" [Op:")[0].strip().replace("\n", " ")
        print(f"warning: no TensorBoard summaries, cannot write {args.logdir} ({message})",
              file=sys.stderr)
        return
    print(f"TensorBoard: {prefix}/* at step {step} in {args.logdir}")


def main(argv=None):
    args = parse_args(argv)
    tf.random.set_seed(args.seed)
    np.random.seed(args.seed)
    model, rolls = load_inputs(args)
    frames, previous, biases = evaluation.conditional_rows(model, rolls)
    print(f"{args.checkpoint} on {args.dataset} [{args.split}]: {len(rolls)} sequences, "
          f"{len(frames)} time steps")
    ll = score_ll(model, frames, previous, biases, args).mean()
    acc, acc_mode, acc_pooled = score_acc(model, frames, previous, biases, args)
    acc_repeat = evaluation.frame_accuracies(previous, frames).mean()
    print_table(args.dataset, ll, acc, acc_mode, acc_repeat)
    # As printed: LL in nats per time step, the accuracies in %.
    log_figures(args, {"ll": ll, "acc": 100 * acc, "acc_mode": 100 * acc_mode,
                       "acc_pooled": 100 * acc_pooled, "acc_repeat_previous": 100 * acc_repeat},
                paper_markdown(args.dataset, ll, acc))
    return ll, acc, acc_mode


if __name__ == "__main__":
    main()
