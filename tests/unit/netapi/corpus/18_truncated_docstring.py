# expect-outcome: truncated
# expect-rules: truncated
# task: img-captioning
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    """Image captioning model.

    Architecture:
      * Encoder: a four-stage CNN that maps (B, C, H, W) images to a 512-d vector.
      * Decoder: a two-layer LSTM conditioned on the image vector through its
        initial hidden and cell state.
      * Training: teacher forcing on the first reference caption; the loss
        ignores <PAD> tokens.
      * Inference: greedy decoding from <SOS> until <EOS> or
