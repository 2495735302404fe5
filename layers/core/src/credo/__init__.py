"""Credo: EMI and Cash-on-Delivery eligibility from privacy-preserving credit and buying profiles."""

__version__ = "0.1.0"
