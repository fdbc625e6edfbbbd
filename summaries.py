"""TensorBoard summaries of a training run, written with `tf.summary`.

    pip install tensorboard
    tensorboard --logdir parameter_checkpoints/logs

TensorBoard itself is only needed to look: the summaries are written with `tf.summary.write` and
the metadata TensorBoard's scalar, image and text views read, which TensorFlow writes alone
(`tf.summary.scalar` and its siblings would need the tensorboard package installed).

`RunLog` is training's log; `log_scores` writes an evaluation's figures (rnn_rbm_evaluate.py,
into `<out-dir>/logs/evaluate` by default, so the same `tensorboard --logdir` shows both).
"""
import json

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

import pianoroll

# TensorBoard's audio view reads the encoding from its plugin data, an `AudioPluginData` message
# whose field 2 (`encoding`) is 11 for WAV: serialized, the two bytes below (the message is
# TensorBoard's, so it is written out here rather than imported).
_WAV_AUDIO = b"\x10\x0b"


def _metadata(plugin, content=b""):
    """The summary metadata that routes a value to TensorBoard's `plugin` view."""
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin, content=content))


class RunLog:
    """The run's flags as text, the cost of every step and epoch, the epoch's time and speed,
    and piano rolls of short generated samples, all in one event file under `logdir`."""

    def __init__(self, logdir, flags):
        self.writer = tf.summary.create_file_writer(logdir)
        with self.writer.as_default():
            tf.summary.write("flags", tf.constant(code_block(flags)), step=0,
                             metadata=_metadata("text"))

    def _scalar(self, tag, value, step):
        tf.summary.write(tag, tf.constant(value, tf.float32), step=step,
                         metadata=_metadata("scalars"))

    def step(self, cost, step):
        with self.writer.as_default():
            self._scalar("cost/step", cost, step)

    def epoch(self, n, cost, seconds, vectors):
        with self.writer.as_default():
            self._scalar("cost/epoch", cost, n)
            self._scalar("epoch/seconds", seconds, n)
            self._scalar("epoch/vectors_per_second", vectors / max(seconds, 1e-9), n)
        self.writer.flush()

    def audio(self, n, wav):
        """A generated sample's audio, the bytes of a WAV file, as the sound of epoch `n`: in
        mono at half its rate (FluidSynth's 44.1 kHz stereo makes 6 MB of a 30-second sample;
        this is a quarter of that, enough to hear the music)."""
        sound, rate = tf.audio.decode_wav(wav)
        mono = tf.reduce_mean(sound, axis=1, keepdims=True)[::2]
        smaller = tf.audio.encode_wav(mono, rate // 2)
        with self.writer.as_default():
            tf.summary.write("sample_audio", tf.stack([[smaller, tf.constant(b"")]]), step=n,
                             metadata=_metadata("audio", _WAV_AUDIO))
        self.writer.flush()

    def piano_roll(self, n, statematrix, lowest_note):
        """A generated sample's piano roll (see `pianoroll.draw`) as the image of epoch `n`."""
        image = pianoroll.draw(statematrix, lowest_note=lowest_note)
        height, width = image.shape[:2]
        encoded = tf.constant([str(width), str(height), pianoroll.encode_png(np.asarray(image))])
        with self.writer.as_default():
            tf.summary.write("sample", encoded, step=n, metadata=_metadata("images"))
        self.writer.flush()


def code_block(values):
    """`values` as indented JSON in a Markdown code block, which TensorBoard's text view shows
    verbatim (as plain text it would run the lines together)."""
    return f"```\n{json.dumps(values, indent=2, sort_keys=True, default=str)}\n```"


def log_scores(logdir, scores, step, texts):
    """Writes `scores` ({tag: number}) as scalars and `texts` ({tag: Markdown}) as text, all at
    `step`, to a new event file under `logdir`, closed (so complete on disk) when it returns.

    One call per evaluation: evaluations of several epochs into one `logdir` make one curve per
    tag over the epochs. Raises `tf.errors.OpError` when `logdir` cannot be written.
    """
    writer = tf.summary.create_file_writer(logdir)
    try:
        with writer.as_default():
            for tag, value in scores.items():
                tf.summary.write(tag, tf.constant(value, tf.float32), step=step,
                                 metadata=_metadata("scalars"))
            for tag, text in texts.items():
                tf.summary.write(tag, tf.constant(text), step=step, metadata=_metadata("text"))
    finally:
        writer.close()
