"""Small models and songs that several test files build the same way."""
import os

import numpy as np
import tensorflow as tf
from tensorflow.core.util import event_pb2

import midi_manipulation
import rnn_rbm

# A note-state model small enough to check by hand: 4 pitches, 2 frames a vector, 16 units.
SMALL = rnn_rbm.HParams(n_hidden=6, n_hidden_recurrent=5, lowest_note=60, highest_note=64,
                        num_timesteps=2, articulation=True)


def randomised_model(seed=0, hparams=SMALL):
    """A model whose variables are all O(1) and differ from a fresh model's, so every path of
    the maths is exercised."""
    model = rnn_rbm.RnnRbm(hparams, seed=seed)
    rng = np.random.default_rng(seed)
    for var in model.trainable_variables:
        var.assign(rng.normal(0, 0.5, var.shape).astype(np.float32))
    return model


def tiny_model(n_hidden=6, seed=3):
    """A paper-shaped (88 visible) RNN-RBM small enough to enumerate, with weights of useful
    scale."""
    model = rnn_rbm.RnnRbm(rnn_rbm.paper_hparams(n_hidden=n_hidden, n_hidden_recurrent=5),
                           seed=seed)
    rng = np.random.default_rng(seed)
    rbm = model.distribution
    for var, scale, shift in ((rbm.W, 0.4, 0.0), (rbm.bv, 0.5, -3.0), (model.Wuv, 0.5, 0.0),
                              (model.Wvu, 0.5, 0.0), (model.Wuh, 0.5, 0.0)):
        var.assign(rng.normal(shift, scale, var.shape).astype(np.float32))
    return model


def write_chord_songs(folder, count=3, frames=80, pitches=range(30, 60), notes=3):
    """`count` MIDI songs `song<i>.mid` of `frames` 16ths: a new chord of `notes` columns drawn
    from `pitches` struck on every beat and held through it."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        matrix = np.zeros((frames, 2 * midi_manipulation.span), np.uint8)
        for start in range(0, frames, 4):
            chord = rng.choice(np.arange(pitches.start, pitches.stop), size=notes, replace=False)
            matrix[start:start + 4, chord] = 1
            matrix[start, midi_manipulation.span + chord] = 1
        midi_manipulation.noteStateMatrixToMidi(matrix, os.path.join(folder, f"song{i}"))


def tensorboard_events(logdir):
    """`[(tag, step, value), ...]` of every summary in the event files directly under `logdir`,
    in the order written; `value` is the summary's tensor: a Python number or bytes (text) for
    a scalar, a numpy array otherwise (an image's width, height and PNG)."""
    events = []
    for name in sorted(os.listdir(logdir)):
        path = os.path.join(logdir, name)
        if not os.path.isfile(path):  # evaluations write to logs/evaluate, beside training's file
            continue
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                events.append((value.tag, event.step, array.item() if array.ndim == 0 else array))
    return events


def tensorboard_tags(logdir):
    """`{tag: [step, ...]}` of every summary in the event files directly under `logdir`."""
    tags = {}
    for tag, step, _ in tensorboard_events(logdir):
        tags.setdefault(tag, []).append(step)
    return tags
