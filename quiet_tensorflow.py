"""Loads TensorFlow without the lines its C++ runtime prints while it starts.

Every script imports this module first. On a machine without a GPU those lines include two at
error level (a failed CUDA probe, a note about CPU instructions) that read like failures but are
not, and TF_CPP_MIN_LOG_LEVEL does not hide them: they are printed before TensorFlow's logging is
set up. So the standard error stream is pointed at the null device while TensorFlow is imported
and looks for devices, and restored afterwards; later messages still appear. Set
RNN_RBM_TF_LOGS=1 to see the start-up lines.
"""
import os
import sys


def _load_quietly():
    if os.environ.get("RNN_RBM_TF_LOGS") == "1" or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()  # the device probe prints its lines here
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


_load_quietly()
