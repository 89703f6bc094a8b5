"""decoderlab's Hydra launchers, found by Hydra's plugin discovery (the ``hydra_plugins``
namespace package)."""
