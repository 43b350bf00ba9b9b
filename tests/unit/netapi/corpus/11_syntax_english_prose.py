# expect-outcome: syntax_error
# expect-rules: syntax
# task: img-classification
Sure! Below is a description of a convolutional network that should work well on CIFAR-10.
It starts with three convolutional blocks, each made of a 3x3 convolution, batch
normalisation and a ReLU, followed by max pooling. The classifier is a global average
pool and a single linear layer. Train it with SGD and momentum 0.9 for the best results,
and let me know if you would like me to write the PyTorch code for it
