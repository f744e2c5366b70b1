"""evim: instant messaging for the e-venement back office."""

__version__ = "0.1.0"
