"""resnet-lab: verify, on real data and with numbers, what residual connections do."""

__version__ = "0.1.0"
