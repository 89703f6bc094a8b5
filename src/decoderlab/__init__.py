"""decoderlab: compare image decoder upsampling blocks under matched conditions."""

__version__ = "0.1.0"
