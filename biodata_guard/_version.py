"""The package version, in a leaf module so that everything may import it."""

__version__ = "0.1.0"
