"""beamstream.hw: the Amaranth gateware. Importing this package does not import Amaranth; its modules do."""
from .config import CoreConfig

__all__ = ["CoreConfig"]
