"""SSM Parameter Store access: versioned policy and thresholds."""

from typing import Any

from credo.adapters import aws_client


class ParameterStore:
    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def create(cls) -> "ParameterStore":
        return cls(aws_client("ssm"))

    def get(self, name: str) -> str:
        value: str = self._client.get_parameter(Name=name)["Parameter"]["Value"]
        return value

    def put(self, name: str, value: str, *, overwrite: bool = True) -> int:
        """Store `value`; returns the parameter's new version."""
        response = self._client.put_parameter(Name=name, Value=value, Type="String", Overwrite=overwrite)
        return int(response["Version"])
