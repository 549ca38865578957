"""Model families, one module each. Importing this package imports every module in it, which runs
their ``@register_model`` decorators (see ``registry.py``): a new family is one new file here."""

import importlib
import pkgutil

from .layers import ConvNet, ConvUnit, ResidualBlock, init_weights

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
del _info

__all__ = ["ConvNet", "ConvUnit", "ResidualBlock", "init_weights"]
