"""Pipeline step 5: register every challenger, and make it champion only where evaluate said so.

Model versions name their content (target, training time and a hash of the training rows), so a
re-run of the same execution finds its versions registered and writes no second copy; the champion
pointer moves only when it does not already name the challenger.
"""

import tempfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from credo.adapters.s3 import S3Store
from credo.pipeline.artifacts import ArtifactError, fetch_model_artifacts
from credo.pipeline.events import PromoteOutput, Registration, TargetEvaluation
from credo.registry import ModelRegistry


def promote_models(
    *,
    s3: S3Store,
    registry: ModelRegistry,
    run_id: str,
    as_of: date,
    model_artifacts: str,
    evaluation: Mapping[str, TargetEvaluation],
    scratch: Path | None = None,
) -> PromoteOutput:
    """Register each evaluated target's challenger with the report that selected it; promote the winners."""
    registered = {}
    with tempfile.TemporaryDirectory(prefix="credo-promote-", dir=scratch) as workdir:
        artifacts = fetch_model_artifacts(s3, model_artifacts, Path(workdir))
        missing = sorted(set(evaluation) - set(artifacts.targets))
        if missing:
            raise ArtifactError(f"evaluated targets {missing} have no model in {model_artifacts}")
        reports = artifacts.reports()
        for target, verdict in sorted(evaluation.items()):
            model = artifacts.targets[target]
            version = model.model_version
            if version != verdict.challenger_version:
                raise ArtifactError(
                    f"{target}: evaluation is of {verdict.challenger_version}, the archive holds {version}"
                )
            already = registry.model_card(target, version) is not None
            if not already:
                registry.register(model)
            for name, body in reports.items():  # the same bytes again on a re-run: no new object
                registry.attach(target, version, name, body)
            champion = registry.champion(target)
            is_champion = champion is not None and champion.model_version == version
            if verdict.promote and not is_champion:
                registry.promote(target, version)
            registered[target] = Registration(
                version=version,
                promoted=verdict.promote or is_champion,
                reason=verdict.reason if not is_champion else f"{verdict.reason} (champion already)",
                already_registered=already,
            )
    return PromoteOutput(as_of=as_of, run_id=run_id, registered=registered)
