"""minimax's version, where every layer can read it (``minimax.__version__`` is this)."""

VERSION = "0.2.0"
