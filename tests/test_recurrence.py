"""The RNN's compiled recurrence and its hand-written gradient against plain autodiff."""
import numpy as np
import pytest
import tensorflow as tf

import recurrence


@pytest.mark.parametrize("time_steps, rows", [(1, 1), (7, 3), (19, 10)])
def test_compiled_recurrence_and_its_gradient_match_plain_autodiff(time_steps, rows):
    # Odd sizes are padded inside tanh_recurrence; the states and all three gradients must be those
    # of a step-by-step scan differentiated by TensorFlow.
    rng = np.random.default_rng(time_steps)
    drive = tf.constant(rng.normal(0, 1, (time_steps, rows, 5)).astype(np.float32))
    u_init = tf.constant(rng.normal(0, 0.5, (rows, 5)).astype(np.float32))
    Wuu = tf.constant(rng.normal(0, 0.5, (5, 5)).astype(np.float32))
    weights = tf.constant(rng.normal(0, 1, (time_steps, rows, 5)).astype(np.float32))

    def loss_and_grads(run):
        with tf.GradientTape() as tape:
            tape.watch([drive, u_init, Wuu])
            states = run(drive, u_init, Wuu)
            loss = tf.reduce_sum(tf.sin(states) * weights)
        return states, tape.gradient(loss, [drive, u_init, Wuu])

    def plain(drive, u_init, Wuu):
        return tf.scan(lambda u, x: tf.tanh(x + tf.matmul(u, Wuu)), drive, initializer=u_init)

    states, grads = loss_and_grads(recurrence.tanh_recurrence)
    expected_states, expected_grads = loss_and_grads(plain)
    assert states.shape == (time_steps, rows, 5)
    np.testing.assert_allclose(states, expected_states, rtol=1e-5, atol=1e-6)
    for name, got, expected in zip(["drive", "u_init", "Wuu"], grads, expected_grads):
        assert np.abs(expected).max() > 1e-3, name
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=name)
