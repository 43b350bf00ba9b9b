# expect-outcome: truncated
# expect-rules: truncated
# task: img-captioning
import torch
import torch.nn as nn

PAD, SOS, EOS = 0, 1, 2


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        if self.vocab_size <= 4:
            raise ValueError(f"vocabulary of {self.vocab_size} tokens is too small; it must hold
