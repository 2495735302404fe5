"""The synthetic e-commerce world: the sources Credo mines, for the demo and the tests only.

No real customer data is available, so Credo simulates customers with hidden traits that shape
their registrations, orders, repayments and marketing, and records (for evaluation only) each
customer's true probability of each bad outcome.
"""

from credo.synthetic.world import WorldConfig, generate_world, roc_auc

__all__ = ["WorldConfig", "generate_world", "roc_auc"]
