"""Small template searches for tests that run a real stack (no LLM: minutes, not hours)."""


def template_search(
    method: str = "random",
    candidates: int = 3,
    *,
    epochs: int = 1,
    train_samples: int = 1024,
    validation_samples: int = 64,
    test_samples: int = 256,
    **overrides,
) -> dict:
    """A search config on Fashion-MNIST with the template generator; with 0 epochs its
    candidates end after their sandbox check."""
    config = {
        "method": method,
        "generator": "template",
        "max_candidates": candidates,
        "seed": 3,
        "task": {
            "task": "img-classification",
            "dataset": "fashion-mnist",
            "in_shape": [32, 1, 28, 28],
            "out_shape": [10],
        },
        "training": {
            "epochs": epochs,
            "train_samples": train_samples,
            "validation_samples": validation_samples,
            "test_samples": test_samples,
        },
    }
    config.update(overrides)
    return config
