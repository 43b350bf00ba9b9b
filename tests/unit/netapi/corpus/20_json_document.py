# expect-outcome: api_noncompliance
# expect-rules: missing-net-class, missing-supported-hyperparameters
# task: img-classification
{
  "model_name": "SimpleCNN",
  "task": "img-classification",
  "layers": [
    {"type": "Conv2d", "in_channels": 3, "out_channels": 32, "kernel_size": 3},
    {"type": "ReLU"},
    {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Linear", "in_features": 8192, "out_features": 10}
  ],
  "hyperparameters": {"lr": 0.01, "momentum": 0.9},
  "pretrained": false,
  "notes": null
}
