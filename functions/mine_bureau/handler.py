"""Mine the bureau source into the lake; triggered by an EventBridge schedule."""

from credo.mining_handler import mining_handler

handler = mining_handler("bureau")
