"""DREAM's information bottleneck on the problem-ID embedding.

The execution policy sees z ~ N(f(mu), rho^2 I). The penalty lambda * max(||f||^2, K)
bounds the information z carries about mu: it is, up to the 1/(2 rho^2) scale and the
floor K, the KL divergence KL(N(f, rho^2 I) || N(0, rho^2 I)) = ||f||^2 / (2 rho^2).
Norms below K are not pushed down (its gradient there is zero).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def bottleneck_penalty(f, norm_floor: float):
    """mean_b max(||f_b||^2, norm_floor). f [B, Z] -> scalar."""
    return tf.reduce_mean(tf.maximum(tf.reduce_sum(tf.square(f), axis=-1), norm_floor))


def _posterior(f, noise_scale: float):
    return tfd.MultivariateNormalDiag(loc=f, scale_diag=tf.fill(tf.shape(f), noise_scale))


def sample_bottleneck(f, noise_scale: float, seed):
    """z ~ N(f, noise_scale^2 I), reparameterised (gradients reach f). seed: stateless [2]."""
    return _posterior(f, noise_scale).sample(seed=seed)


def bottleneck_kl(f, noise_scale: float):
    """mean_b KL(N(f_b, rho^2 I) || N(0, rho^2 I)), for logging the information in z."""
    prior = tfd.MultivariateNormalDiag(loc=tf.zeros_like(f), scale_diag=tf.fill(tf.shape(f), noise_scale))
    return tf.reduce_mean(_posterior(f, noise_scale).kl_divergence(prior))
