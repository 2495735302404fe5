"""Credo infrastructure: one CDK construct per capability; stacks only compose."""
