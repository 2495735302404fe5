"""The six miners: scheduled Lambdas that bring each source into the lake, each with only the access it needs.

What each miner touches comes from credo.miners.run_miner. Every miner writes raw/, quarantine/ and
manifests/<miner>/ in the lake and reads its own watermark item and the HMAC key; besides that:

| miner                           | reads                                                           |
| ------------------------------- | --------------------------------------------------------------- |
| registrations, orders, payments | the source DB secret                                            |
| marketing                       | the drops bucket's ads/                                         |
| reference                       | source DB secret, drops bucket's reference/, linkage key        |
| bureau                          | source DB secret, bureau secret, lake state/bureau/ (rw)        |

Given the shop's network (cdk.json `mining_network`), every miner runs in the shop's VPC, and its role
also holds the EC2 actions Lambda needs for the miner's network interfaces there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from credo.adapters.dynamodb import WATERMARK_HASH_KEY
from credo.miners import MINERS
from infra.config import MiningNetwork
from infra.hmac_key_construct import hex_key_generator
from infra.layers_construct import LambdaLayers
from infra.miner_construct import Miner, MinerNetwork, MiningResources


class Miners(Construct):
    """The six miners, their watermark table and the two secrets only miners use; with `network`, the
    miners run in the shop's VPC."""

    KEY_HEX_CHARS = 64  # 32 bytes, hex-encoded: what credo.privacy.hmac_key_from_secret reads
    BUREAU_SECRET_PLACEHOLDER: Final[Mapping[str, str]] = {
        "base_url": "https://bureau.invalid",
        # Empty on purpose: until ops puts the key the bureau issued, the bureau miner fails on its
        # first event with an error naming api_key, instead of quietly finding the bureau unavailable.
        "api_key": "",
    }

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        functions_root: Path,
        layers: LambdaLayers,
        lake_bucket: s3.IBucket,
        drops_bucket: s3.IBucket,
        hmac_secret: secretsmanager.ISecret,
        source_db_secret_name: str,
        schedules: Mapping[str, events.Schedule],
        log_retention: logs.RetentionDays,
        network: MiningNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        _check_schedules(schedules)
        self.network = (
            None if network is None else MinerNetwork.import_from(Construct(self, "Network"), network)
        )
        self.watermark_table = dynamodb.Table(
            self,
            "Watermarks",
            partition_key=dynamodb.Attribute(name=WATERMARK_HASH_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Without its watermark a miner starts again from the beginning of its source.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.linkage_secret = secretsmanager.Secret(
            self,
            "LinkageKey",
            secret_name=f"credo/{environment_name}/linkage-key",
            description="Credo: key of the record-linkage encodings (Bloom filters, block tokens)",
            generate_secret_string=hex_key_generator(self.KEY_HEX_CHARS),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.bureau_secret = secretsmanager.Secret(
            self,
            "BureauConfig",
            secret_name=f"credo/{environment_name}/bureau",
            description='Credo: the credit bureau, {"base_url", "api_key", "lookup_key"}; ops puts the '
            "values the bureau gives",
            generate_secret_string=hex_key_generator(
                self.KEY_HEX_CHARS,
                template=json.dumps(dict(self.BUREAU_SECRET_PLACEHOLDER)),
                key="lookup_key",
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # The shop's RDS writes and rotates this secret; Credo only reads it.
        self.source_db_secret = secretsmanager.Secret.from_secret_name_v2(
            self, "SourceDbSecret", source_db_secret_name
        )
        resources = MiningResources(
            environment_name=environment_name,
            lake_bucket=lake_bucket,
            drops_bucket=drops_bucket,
            watermark_table=self.watermark_table,
            hmac_secret=hmac_secret,
            source_db_secret=self.source_db_secret,
            linkage_secret=self.linkage_secret,
            bureau_secret=self.bureau_secret,
            log_retention=log_retention,
            network=self.network,
        )
        self.miners: dict[str, Miner] = {
            source: Miner(
                self,
                source.capitalize(),
                source=source,
                code_path=functions_root / f"mine_{source}",
                layers=layers.for_function(f"mine_{source}"),
                schedule=schedules[source],
                resources=resources,
            )
            for source in MINERS
        }
        self._acknowledge_checks()

    def _acknowledge_checks(self) -> None:
        Validations.of(self.linkage_secret).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SMG4",
                reason="Not rotated on a schedule: rotation would need a rotation function to protect "
                "nothing stored. The reference miner encodes registry records and customers afresh on every "
                "run and keeps only the matches, so a key changed by hand (put-secret-value) simply takes "
                "effect on the next run.",
            )
        )
        Validations.of(self.bureau_secret).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SMG4",
                reason="Not rotated by Secrets Manager: the bureau issues the API key and holds the same "
                "lookup key to index its own file, so neither can change on our side alone. Ops puts the "
                "values the bureau gives when it reissues them.",
            )
        )


def _check_schedules(schedules: Mapping[str, events.Schedule]) -> None:
    missing = [source for source in MINERS if source not in schedules]
    unknown = sorted(set(schedules) - set(MINERS))
    problems = []
    if missing:
        problems.append(f"no schedule for {', '.join(missing)}")
    if unknown:
        problems.append(f"schedules for unknown miners: {', '.join(unknown)}")
    if problems:
        raise ValueError(f"{'; '.join(problems)} (miners: {', '.join(MINERS)})")
