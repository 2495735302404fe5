"""Pydantic schemas: source records (data contracts), feature rows, API requests/responses."""
