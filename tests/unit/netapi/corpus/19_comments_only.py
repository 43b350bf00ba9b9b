# expect-outcome: no_code
# expect-rules: empty
# task: img-classification
#
# TODO: implement the model.
#
# Plan:
#   - supported_hyperparameters() -> {'lr', 'momentum'}
#   - class Net(nn.Module) with a small VGG-style feature extractor
#   - train_setup: CrossEntropyLoss + SGD
#   - learn: one epoch over train_data
#


