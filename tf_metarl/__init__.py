"""tf_metarl: instruction-based meta-RL (DREAM and model-based/model-free hybrids) in TensorFlow."""
