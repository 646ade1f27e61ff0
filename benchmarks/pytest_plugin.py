"""What the pytest plugin costs a repo that does not use it, and what `-k` saves one that does.

    python benchmarks/pytest_plugin.py [--repeat 7]

1. Overhead when unconfigured: `pytest --collect-only -q` on a one-test project, with the
   plugin loaded (it is, by entry point, wherever readiness is installed) and with
   `-p no:readiness`, interleaved; the ratio of the medians. The plugin imports no heavy
   module (onnxruntime, pandas, pydantic) until a bundle is configured, so it stays near 1.
2. Lazy evaluation: a bundle with two checks whose evidence takes 0.5 s each; `pytest -k A`
   against `pytest`: the ratio of the medians shows the deselected check's evidence is not
   computed.
Both in one run on this machine; ratios, not absolute times, are the figures to compare.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFTEST = """
import time
from readiness import check, passed

@check("BENCHA001", "evidence A", category="quality", severity="major")
def a(ctx):
    ctx.memo("bench:a", lambda: time.sleep(0.5))
    return passed("ok")

@check("BENCHB001", "evidence B", category="latency", severity="major")
def b(ctx):
    ctx.memo("bench:b", lambda: time.sleep(0.5))
    return passed("ok")

def pytest_readiness_checks(config):
    return [a, b]
"""


def _time(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode not in (0, 5):
        sys.exit(f"pytest {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - start


def _interleaved(cwd: Path, a: list[str], b: list[str], repeat: int) -> tuple[float, float]:
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(_time(a, cwd))
        tb.append(_time(b, cwd))
    return statistics.median(ta), statistics.median(tb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: one repeat")
    parsed = parser.parse_args()
    repeat = 1 if parsed.smoke else parsed.repeat
    sys.path.insert(0, str(ROOT / "tests"))
    from builders import write_bundle

    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp, "plain")
        plain.mkdir()
        (plain / "test_app.py").write_text("def test_app():\n    assert True\n")
        on, off = _interleaved(plain, ["--collect-only", "-q"], ["--collect-only", "-q", "-p", "no:readiness"], repeat)
        print(f"unconfigured: with plugin {on:.3f} s, without {off:.3f} s, ratio {on / off:.3f}")

        repo = Path(tmp, "repo")
        write_bundle(repo / "model", manifest={"checks": {"select": ["BENCH"]}})
        (repo / "conftest.py").write_text(textwrap.dedent(CONFTEST))
        (repo / "pytest.ini").write_text("[pytest]\nreadiness_bundles = model\n")
        args = ["-q", "-p", "no:cacheprovider"]
        one, both = _interleaved(repo, [*args, "-k", "BENCHA"], args, repeat)
        print(f"lazy evaluation: -k BENCHA {one:.3f} s, all {both:.3f} s, ratio {one / both:.3f}")
        print(f"(median of {repeat} interleaved runs each)")


if __name__ == "__main__":
    main()
