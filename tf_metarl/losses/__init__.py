"""Pure loss functions: tensors in, (loss, metrics) or tensors out; no variables, no state."""

from tf_metarl.losses.bottleneck import bottleneck_kl, bottleneck_penalty, sample_bottleneck
from tf_metarl.losses.dream import decoder_loss, exploration_rewards, squared_distances
from tf_metarl.losses.masking import masked_mean
from tf_metarl.losses.td import double_dqn_targets, sequence_td_loss
from tf_metarl.losses.baselines import import_auxiliary_loss, pairwise_reconstruction_loss
