"""The RNN's recurrence u_t = tanh(drive_t + u_{t-1} Wuu), the only sequential part of training.

Both directions run as XLA-compiled loops, and the backward pass is written out: it carries only
dL/da_t = (dL/du_t + dL/da_{t+1} Wuu^T) (1 - u_t^2) from step to step, and the gradient for Wuu is
one matmul over all steps afterwards instead of one small matmul per step. Time and batch are
padded up to a few sizes (`RBM.padded_rows`) so XLA compiles a handful of shapes; padding steps
come after the real ones and padded rows are independent, so neither changes a real state.
"""
import tensorflow as tf

import RBM


@tf.function(jit_compile=True)
def _recurrence_forward(drive, u_init, Wuu):
    return tf.scan(lambda u, x: tf.tanh(x + tf.matmul(u, Wuu)), drive, initializer=u_init)


@tf.function(jit_compile=True)
def _recurrence_backward(d_states, states, Wuu):
    def step(d_next, inputs):
        d_u, u = inputs
        return (d_u + tf.matmul(d_next, Wuu, transpose_b=True)) * (1.0 - tf.square(u))

    return tf.scan(step, (d_states, states), initializer=tf.zeros_like(states[0]), reverse=True)


@tf.custom_gradient
def _recurrence(drive, u_init, Wuu):
    # The compiled loops are called on gradient-stopped inputs: a recording tape would otherwise ask
    # them for their own gradient, which XLA loops cannot hand back; `grad` below is that gradient.
    stop = tf.stop_gradient
    states = _recurrence_forward(stop(drive), stop(u_init), stop(Wuu))

    def grad(d_states):
        # dL/da_t, [time, batch, units]
        d_pre = _recurrence_backward(stop(d_states), stop(states), stop(Wuu))
        previous = tf.concat([u_init[tf.newaxis], states[:-1]], axis=0)
        d_u_init = tf.matmul(d_pre[0], Wuu, transpose_b=True)
        return d_pre, d_u_init, tf.einsum("tbi,tbj->ij", previous, d_pre)

    return states, grad


def tanh_recurrence(drive, u_init, Wuu):
    """States u_1..u_T of u_t = tanh(drive_t + u_{t-1} Wuu) from u_0 = `u_init`.

    Args:
      drive: `[time, batch, units]`; u_init: `[batch, units]`; Wuu: `[units, units]`.
    Returns:
      `[time, batch, units]`, differentiable with respect to all three inputs.
    """
    time_steps, rows = tf.shape(drive)[0], tf.shape(drive)[1]
    pad_t, pad_b = RBM.padded_rows(time_steps) - time_steps, RBM.padded_rows(rows) - rows
    states = _recurrence(tf.pad(drive, [[0, pad_t], [0, pad_b], [0, 0]]),
                         tf.pad(u_init, [[0, pad_b], [0, 0]]), Wuu)
    return states[:time_steps, :rows]
