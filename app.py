#!/usr/bin/env python3
"""CDK app entry point: `python app.py` (or `cdk synth`) writes the cloud assembly to cdk.out/."""

import os
from pathlib import Path

from infra.credo_app import add_stacks, create_app

# The CDK CLI chooses the output directory through CDK_OUTDIR; run alone, write where the CLI would.
outdir = None if os.environ.get("CDK_OUTDIR") else str(Path(__file__).resolve().parent / "cdk.out")
app = create_app(outdir=outdir)
add_stacks(app)
app.synth()
