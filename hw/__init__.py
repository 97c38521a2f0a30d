"""beamstream.hw: the Amaranth gateware. Importing this package does not import Amaranth (its modules do) nor any
host module; `beamstream.hw.interface` holds the contract (docs/interface.md) the host shares with it."""
from .interface import CoreConfig

__all__ = ["CoreConfig"]
