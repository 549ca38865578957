"""``python -m resnet_lab.cli``: the same as the ``resnet-lab`` command."""

import sys

from . import main

if __name__ == "__main__":  # importing this module (e.g. to check that it imports) runs nothing
    sys.exit(main())
