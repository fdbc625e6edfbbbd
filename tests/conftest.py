"""TensorFlow loads as in the scripts, without the lines its runtime prints while starting."""
import quiet_tensorflow  # noqa: F401
