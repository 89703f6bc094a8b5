"""decoderlab's Hydra sweepers, found by Hydra's plugin discovery (the ``hydra_plugins``
namespace package)."""
