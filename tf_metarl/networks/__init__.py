"""Keras models: embedders, recurrent Q-networks, the problem encoder and trajectory decoder."""
