"""SSM Parameter Store access: versioned policy and thresholds."""

from typing import Any

from botocore.exceptions import ClientError

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

    def get_optional(self, name: str) -> str | None:
        """The value, or None when no such parameter exists; any other error raises."""
        try:
            return self.get(name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise

    def put(self, name: str, value: str, *, overwrite: bool = True) -> int:
        """Store `value`; returns the parameter's new version."""
        response = self._client.put_parameter(Name=name, Value=value, Type="String", Overwrite=overwrite)
        return int(response["Version"])
