"""Model families. Importing this package registers every builder (see ``registry.py``)."""

from . import cifar, notebook, seed  # noqa: F401  (imported for their @register_model side effect)
from .layers import ConvNet, ConvUnit, ResidualBlock, init_weights

__all__ = ["ConvNet", "ConvUnit", "ResidualBlock", "init_weights"]
