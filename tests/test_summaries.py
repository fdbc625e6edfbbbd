"""The run log's audio summary: what TensorBoard's audio view reads, written by TensorFlow
alone."""
import os

import numpy as np
import tensorflow as tf
from helpers import tensorboard_events
from tensorflow.core.util import event_pb2

import summaries


def test_a_samples_audio_reads_back_as_a_wav_for_tensorboards_audio_view(tmp_path):
    tone = np.sin(np.arange(800) / 8000 * 2 * np.pi * 440).astype(np.float32)[:, np.newaxis]
    stereo = np.hstack([tone, 0.5 * tone])
    wav = tf.audio.encode_wav(stereo, 8000).numpy()
    log = summaries.RunLog(str(tmp_path), {"seed": 0})
    log.audio(10, wav)
    events = [(tag, step, value) for tag, step, value in tensorboard_events(str(tmp_path))
              if tag == "sample_audio"]
    assert len(events) == 1 and events[0][1] == 10
    assert events[0][2].shape == (1, 2) and events[0][2][0, 1] == b""
    decoded, rate = tf.audio.decode_wav(events[0][2][0, 0])  # mono, half the rate
    assert int(rate) == 4000 and np.allclose(decoded.numpy(), 0.75 * tone[::2], atol=1e-4)
    name = next(n for n in os.listdir(tmp_path))
    for record in tf.data.TFRecordDataset(os.path.join(tmp_path, name)):
        for value in event_pb2.Event.FromString(record.numpy()).summary.value:
            if value.tag == "sample_audio":
                plugin = value.metadata.plugin_data
                assert plugin.plugin_name == "audio" and plugin.content == b"\x10\x0b"  # WAV
