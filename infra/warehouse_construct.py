"""The warehouse: Redshift Serverless in a private VPC, loading raw/ from the lake and unloading features/.

The tables are not created here. The training pipeline's first step (pipeline_load) runs
`credo.warehouse.create_tables`, whose CREATE TABLE IF NOT EXISTS statements are the schema
migration, through the Data API that `Warehouse.grant_data_api` opens.
"""

from __future__ import annotations

import re
from typing import Final

from aws_cdk import Acknowledgment, Fn, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_redshiftserverless as redshiftserverless
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from credo import constants
from infra.keys import grant_key_through_s3, retained_key
from infra.nag import WildcardAcknowledgments

# Namespace and workgroup names: 3-64 of a-z, 0-9 and '-' (CloudFormation's pattern for both).
_RESOURCE_NAME: Final = re.compile(r"[a-z0-9-]{3,64}")
# Redshift database names: a letter or '_' first, then letters, digits, '_' or '$'; 127 at most.
_DATABASE_NAME: Final = re.compile(r"[a-z_][a-z0-9_$]{0,126}")


class Warehouse(Construct):
    """A Redshift Serverless namespace and workgroup that only COPY/UNLOAD and the Data API can reach.

    - Network: a VPC of private isolated subnets (no NAT, no internet gateway) with an S3 gateway
      endpoint, flow logs, and a security group that admits nothing: Credo talks to the warehouse
      through the Redshift Data API, which reaches the workgroup through the Redshift service, not
      through the workgroup's network interfaces. Enhanced VPC routing sends COPY and UNLOAD through
      the VPC, so the only way out is HTTPS to S3 over the gateway endpoint, which in turn admits
      only the lake bucket.
    - Namespace: encrypted with its own customer-managed key; the admin password is generated and
      kept by Redshift in Secrets Manager (never in the template, never passing through
      CloudFormation); the copy role is its IAM role and default IAM role; user, connection and
      user-activity logs go to CloudWatch log groups created here with the environment's retention.
    - Access: `grant_data_api` lets a principal run statements on this workgroup as its own IAM
      identity (redshift-serverless:GetCredentials), and read or cancel only the statements it ran.
    """

    # Redshift Serverless accepts base capacities of 8 to 1024 RPUs in steps of 8.
    MIN_BASE_CAPACITY_RPUS = 8
    MAX_BASE_CAPACITY_RPUS = 1024
    BASE_CAPACITY_STEP_RPUS = 8
    # A workgroup needs subnets in two AZs, or three with enhanced VPC routing ("Considerations when
    # using Amazon Redshift Serverless", Amazon Redshift Management Guide).
    REQUIRED_AVAILABILITY_ZONES = 3
    # /20 per subnet: workgroups need free addresses in every subnet, and more as they scale out.
    VPC_CIDR = "10.64.0.0/16"
    SUBNET_CIDR_MASK = 20
    FLOW_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
    ADMIN_USERNAME = "credo_admin"
    LOG_EXPORTS = ("userlog", "connectionlog", "useractivitylog")
    CONFIG_PARAMETERS = (("require_ssl", "true"), ("enable_user_activity_logging", "true"))
    # The Data API calls credo.warehouse.redshift.RedshiftWarehouse makes. Submitting is scoped to
    # this workgroup; statement ids are no resource IAM can name, so describing, fetching and
    # cancelling are limited to statements the caller itself submitted.
    DATA_API_SUBMIT_ACTIONS = ("redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement")
    DATA_API_OWN_STATEMENT_ACTIONS = (
        "redshift-data:DescribeStatement",
        "redshift-data:GetStatementResult",
        "redshift-data:CancelStatement",
    )
    # Without a SecretArn the Data API signs the caller in as its own IAM identity (IAMR:<role>).
    CREDENTIALS_ACTION = "redshift-serverless:GetCredentials"
    # COPY lists and reads raw/; UNLOAD … CLEANPATH lists, deletes and writes features/.
    COPY_ACTIONS = ("s3:GetObject",)
    UNLOAD_ACTIONS = ("s3:PutObject", "s3:DeleteObject")
    LIST_ACTION = "s3:ListBucket"
    LAKE_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        lake_bucket: s3.IBucket,
        base_capacity_rpus: int,
        log_retention: logs.RetentionDays,
        database_name: str = "credo",
        max_azs: int = 3,
    ) -> None:
        super().__init__(scope, construct_id)
        self._check_arguments(environment_name, base_capacity_rpus, database_name, max_azs)
        name = f"credo-{environment_name}"
        self.workgroup_name = name
        self.database_name = database_name

        self.vpc = self._network(self._availability_zones(max_azs), lake_bucket)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=self.vpc,
            description=f"Credo {environment_name}: Redshift Serverless; nothing in, HTTPS to S3 out",
            allow_all_outbound=False,
        )
        # The subnets have no route to the internet: the S3 gateway endpoint's prefix-list route is the
        # only destination port 443 can reach, and the endpoint policy narrows that to the lake.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "COPY/UNLOAD to S3 through the gateway endpoint"
        )

        self.copy_role = self._copy_role(environment_name, lake_bucket)
        # The warehouse holds the loaded history and every feature snapshot; without this key its data
        # and snapshots are unreadable, so the key outlives the stack like the namespace.
        self.key = retained_key(
            self,
            "Key",
            alias=f"alias/{name}-warehouse",
            description=f"Credo {environment_name}: encrypts the warehouse namespace and its admin secret",
        )
        self.namespace = redshiftserverless.CfnNamespace(
            self,
            "Namespace",
            namespace_name=name,
            db_name=database_name,
            admin_username=self.ADMIN_USERNAME,
            # Redshift generates the password into a Secrets Manager secret it owns and rotates; the
            # template carries no password, not even a dynamic reference CloudFormation resolves.
            manage_admin_password=True,
            admin_password_secret_kms_key_id=self.key.key_arn,
            kms_key_id=self.key.key_arn,
            iam_roles=[self.copy_role.role_arn],
            default_iam_role_arn=self.copy_role.role_arn,
            log_exports=list(self.LOG_EXPORTS),
        )
        # The namespace is the warehouse's storage: deleting the stack must not delete the history.
        self.namespace.apply_removal_policy(RemovalPolicy.RETAIN)
        # Redshift writes each exported log to /aws/redshift/<namespace>/<log type>, and creates that
        # group itself, keeping logs forever, unless it exists already ("Audit logging for Amazon
        # Redshift Serverless"): so the groups come first, with the environment's retention, and are
        # kept with the namespace when the stack is deleted.
        self.log_groups = {
            log_type: logs.LogGroup(
                self,
                f"Logs-{log_type}",
                log_group_name=f"/aws/redshift/{name}/{log_type}",
                retention=log_retention,
                removal_policy=RemovalPolicy.RETAIN,
            )
            for log_type in self.LOG_EXPORTS
        }
        for group in self.log_groups.values():
            self.namespace.node.add_dependency(group)
        # CloudFormation does not return the managed secret's ARN (cloudformation-coverage-roadmap
        # #2021); Redshift names the secret redshift!<namespace>-<admin user>, so it is referenced by
        # name, which is enough for grants.
        self.admin_secret = secretsmanager.Secret.from_secret_name_v2(
            self, "AdminSecret", f"redshift!{name}-{self.ADMIN_USERNAME}"
        )

        self.workgroup = redshiftserverless.CfnWorkgroup(
            self,
            "Workgroup",
            workgroup_name=name,
            namespace_name=self.namespace.ref,
            base_capacity=base_capacity_rpus,
            enhanced_vpc_routing=True,
            publicly_accessible=False,
            subnet_ids=[subnet.subnet_id for subnet in self.vpc.isolated_subnets],
            security_group_ids=[self.security_group.security_group_id],
            config_parameters=[
                redshiftserverless.CfnWorkgroup.ConfigParameterProperty(
                    parameter_key=key, parameter_value=value
                )
                for key, value in self.CONFIG_PARAMETERS
            ],
        )
        self.data_api_policy = self._data_api_policy(environment_name)
        self._acknowledge_checks(lake_bucket)

    @property
    def workgroup_arn(self) -> str:
        return self.workgroup.attr_workgroup_workgroup_arn

    def grant_data_api(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` run SQL on this workgroup through the Data API, as its own IAM identity.

        The grantee gets the warehouse's Data API managed policy attached, so the permissions and
        their cdk-nag acknowledgements stay in one place; the grantee must be a role, user or group.
        """
        principal = grantee.grant_principal
        attach = getattr(principal, "add_managed_policy", None)
        if attach is None:
            raise TypeError(
                f"grant_data_api needs a role, user or group to attach a managed policy to, got {principal}"
            )
        attach(self.data_api_policy)

    def _check_arguments(
        self, environment_name: str, base_capacity_rpus: int, database_name: str, max_azs: int
    ) -> None:
        if not _RESOURCE_NAME.fullmatch(f"credo-{environment_name}"):
            raise ValueError(
                f"environment_name {environment_name!r} must make credo-<env> of 3-64 lowercase letters, "
                "digits and hyphens"
            )
        if (
            isinstance(base_capacity_rpus, bool)
            or not isinstance(base_capacity_rpus, int)
            or not self.MIN_BASE_CAPACITY_RPUS <= base_capacity_rpus <= self.MAX_BASE_CAPACITY_RPUS
            or base_capacity_rpus % self.BASE_CAPACITY_STEP_RPUS
        ):
            raise ValueError(
                f"base_capacity_rpus {base_capacity_rpus!r} is not a Redshift Serverless base capacity: "
                f"{self.MIN_BASE_CAPACITY_RPUS}-{self.MAX_BASE_CAPACITY_RPUS} RPUs in steps of "
                f"{self.BASE_CAPACITY_STEP_RPUS}"
            )
        if not _DATABASE_NAME.fullmatch(database_name):
            raise ValueError(
                f"database_name {database_name!r} must start with a lowercase letter or '_' and hold only "
                "lowercase letters, digits, '_' and '$' (127 at most)"
            )
        if max_azs < self.REQUIRED_AVAILABILITY_ZONES:
            raise ValueError(
                f"max_azs {max_azs} is too few: a Redshift Serverless workgroup with enhanced VPC routing "
                f"needs subnets in {self.REQUIRED_AVAILABILITY_ZONES} availability zones"
            )

    def _availability_zones(self, max_azs: int) -> list[str]:
        """`max_azs` zones of the stack's region, which must have at least the zones Redshift needs.

        An environment-agnostic stack (no account or region at synth time) offers only two zones of its
        own, fewer than a workgroup needs, so its zones are picked from Fn::GetAZs at deploy time.
        """
        zones = Stack.of(self).availability_zones
        if any(Token.is_unresolved(zone) for zone in zones):
            return [Fn.select(index, Fn.get_azs()) for index in range(max_azs)]
        if len(zones) < self.REQUIRED_AVAILABILITY_ZONES:
            raise ValueError(
                f"region {Stack.of(self).region} offers {len(zones)} availability zones {zones}; a Redshift "
                f"Serverless workgroup with enhanced VPC routing needs {self.REQUIRED_AVAILABILITY_ZONES}"
            )
        return list(zones[:max_azs])

    def _network(self, availability_zones: list[str], lake_bucket: s3.IBucket) -> ec2.Vpc:
        flow_log_group = logs.LogGroup(self, "FlowLogs", retention=self.FLOW_LOG_RETENTION)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(self.VPC_CIDR),
            availability_zones=availability_zones,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Warehouse",
                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                    cidr_mask=self.SUBNET_CIDR_MASK,
                )
            ],
            restrict_default_security_group=True,
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        s3_endpoint = vpc.add_gateway_endpoint(
            "S3",
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
        )
        # Whatever a role may do elsewhere, from this VPC S3 serves only the lake, only for COPY/UNLOAD.
        s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                principals=[iam.AnyPrincipal()],
                actions=[*self.COPY_ACTIONS, *self.UNLOAD_ACTIONS, self.LIST_ACTION],
                resources=[lake_bucket.bucket_arn, lake_bucket.arn_for_objects("*")],
            )
        )
        return vpc

    def _copy_role(self, environment_name: str, lake_bucket: s3.IBucket) -> iam.Role:
        """The role Redshift assumes for COPY from raw/ and UNLOAD to features/, and nothing else."""
        role = iam.Role(
            self,
            "CopyRole",
            # Redshift Serverless wants both service principals trusted ("Granting permissions to Amazon
            # Redshift Serverless", Amazon Redshift Management Guide).
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("redshift.amazonaws.com"),
                iam.ServicePrincipal("redshift-serverless.amazonaws.com"),
            ),
            description=f"Credo {environment_name}: Redshift COPY from lake raw/, UNLOAD to features/",
        )
        raw, features = f"{constants.RAW_PREFIX}/", f"{constants.FEATURES_PREFIX}/"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[self.LIST_ACTION],
                resources=[lake_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{raw}*", f"{features}*"]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(self.COPY_ACTIONS), resources=[lake_bucket.arn_for_objects(f"{raw}*")]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(self.UNLOAD_ACTIONS), resources=[lake_bucket.arn_for_objects(f"{features}*")]
            )
        )
        # S3 uses the lake key on the role's behalf: decrypt what COPY reads, make data keys for what
        # UNLOAD writes with SSE-KMS (ENCRYPTED AUTO or KMS_KEY_ID). Only through S3, never directly.
        grant_key_through_s3(self, role, lake_bucket.encryption_key, *self.LAKE_KEY_ACTIONS)
        return role

    def _data_api_policy(self, environment_name: str) -> iam.ManagedPolicy:
        return iam.ManagedPolicy(
            self,
            "DataApiPolicy",
            description=f"Credo {environment_name}: SQL on workgroup {self.workgroup_name} via the Data API",
            statements=[
                iam.PolicyStatement(
                    actions=[*self.DATA_API_SUBMIT_ACTIONS, self.CREDENTIALS_ACTION],
                    resources=[self.workgroup_arn],
                ),
                iam.PolicyStatement(
                    actions=list(self.DATA_API_OWN_STATEMENT_ACTIONS),
                    resources=["*"],
                    conditions={
                        "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
                    },
                ),
            ],
        )

    def _acknowledge_checks(self, lake_bucket: s3.IBucket) -> None:
        Validations.of(self.data_api_policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="DescribeStatement, GetStatementResult and CancelStatement support no "
                "resource-level permissions (Service Authorization Reference for redshift-data); the "
                "statement is limited by redshift-data:statement-owner-iam-userid to statements the "
                "caller's own IAM session submitted, as in AWS's AmazonRedshiftQueryEditor policy.",
            )
        )
        wildcards = WildcardAcknowledgments(self)
        wildcards.add(
            self.copy_role,
            lake_bucket.arn_for_objects(f"{constants.RAW_PREFIX}/*"),
            "COPY reads every Parquet part under raw/<source>/dt=.../ that the miners wrote; the object "
            "keys are not known when the role is made. Read-only, raw/ only.",
        )
        wildcards.add(
            self.copy_role,
            lake_bucket.arn_for_objects(f"{constants.FEATURES_PREFIX}/*"),
            "UNLOAD writes Parquet parts and a manifest under features/training/<run_id>/, and CLEANPATH "
            "first deletes what an earlier attempt of the same run left there; run ids are made at run "
            "time. Put and delete only, features/ only.",
        )
