"""Test set-up of the repo: build the model bundle, and add a team-specific readiness check.

In a real repository the bundle usually comes from a CI step (`python -m tumour.train model`)
before `pytest`; here conftest.py builds it on the first run so the example is self-contained.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from readiness import Context, Result, check, failed, passed

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "model"


def pytest_configure(config: pytest.Config) -> None:
    """Build model/ before collection (the readiness plugin collects model/readiness.toml).

    Only the main process builds (xdist workers start after it); the rename makes it atomic.
    """
    if hasattr(config, "workerinput") or (BUNDLE / "readiness.toml").exists():
        return
    from tumour.train import build

    tmp = Path(tempfile.mkdtemp(dir=HERE, prefix=".model-"))
    build(tmp)
    try:
        tmp.rename(BUNDLE)
    except OSError:  # another run built it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)


@check(
    "TEAM001",
    "few over-confident predictions",
    category="quality",
    severity="minor",
    requires=["session", "reference"],
    remediation="calibrate the classifier (CalibratedClassifierCV) before export",
    thresholds={"max_overconfident_share": 0.3},
)
def overconfidence(ctx: Context) -> Result:
    """At most a set share of the holdout rows get a probability above 0.999 or below 0.001."""
    proba = ctx.reference_predictions.probabilities[:, 1]
    share = float(((proba > 0.999) | (proba < 0.001)).mean())
    limit = float(ctx.threshold("max_overconfident_share"))
    measured = {"overconfident_share": round(share, 4), "limit": limit}
    if share <= limit:
        return passed(f"{share:.1%} of holdout rows are over-confident (limit {limit:.0%})", measured)
    return failed(f"{share:.1%} of holdout rows are over-confident (limit {limit:.0%})", measured)


def pytest_readiness_checks(config: pytest.Config) -> list:
    """Team checks run with the installed readiness checks, as items of model/readiness.toml."""
    return [overconfidence]
