"""Gradient-based meta-learning: the MAML inner loop on fast weights of Keras models."""

from tf_metarl.meta.maml import MAML, Adaptation, InnerLearningRates
