"""Each worker imports only what its own queue serves (issue 10, item 3).

Every check runs in a fresh interpreter, as `python -m workers <queue>` starts: it imports the
worker entry point, builds what that queue's worker serves exactly as workers/serve.py does, and
reports which heavy libraries ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlwright.queues import Resource

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "pyarrow", "scipy", "sklearn", "sqlalchemy", "sqlmodel", "httpx")

BUILD = """
import json, sys
import workers.__main__, workers.serve
from mlwright.queues import Resource
from mlwright.settings import Settings
from workers import definitions

resource = Resource(sys.argv[1])
settings = Settings(home=sys.argv[2])
if resource is not Resource.PIPELINES:
    definitions.activities_for(resource, definitions.DepsOnFirstUse(settings), settings)
else:
    definitions.WORKFLOWS  # what the workflow worker registers
print(json.dumps(sorted(m for m in sys.argv[3:] if m in sys.modules)))
"""


def heavy_modules_of(resource: Resource, home: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-c", BUILD, resource.value, str(home), *HEAVY, "temporalio"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_workflow_worker_loads_no_data_ml_or_database_library(tmp_path):
    assert heavy_modules_of(Resource.PIPELINES, tmp_path) == {"temporalio"}


@pytest.mark.parametrize(("resource", "not_at_start"), [
    # Step code and the store (SQLAlchemy) load after polling (worker_preload) or on first use.
    (Resource.IO, {"sklearn", "scipy", "pandas", "pyarrow", "sqlalchemy", "sqlmodel"}),
    (Resource.CPU, {"sklearn", "scipy", "pandas", "pyarrow", "sqlalchemy", "sqlmodel"}),
    # training only fits: its libraries load with the first fit; it calls no source system (httpx).
    (Resource.TRAINING, {"sklearn", "scipy", "pandas", "pyarrow", "httpx", "sqlalchemy", "sqlmodel"}),
])
def test_an_activity_worker_starts_with_only_its_own_queues_libraries(tmp_path, resource, not_at_start):
    loaded = heavy_modules_of(resource, tmp_path)
    assert "temporalio" in loaded  # the check sees a library that is there
    assert loaded.isdisjoint(not_at_start), f"the {resource} worker imported {sorted(loaded & not_at_start)}"


def test_every_activity_class_is_listed_under_each_queue_it_serves(deps, settings):
    """A class missing from a queue's list would leave that queue's steps unserved."""
    from workers.definitions import ACTIVITY_CLASSES, STEPS

    for resource, classes in ACTIVITY_CLASSES.items():
        loaded = [c.load() for c in classes]
        for step in (s for s in STEPS if s.resource is resource):
            assert any(hasattr(cls, step.name) for cls in loaded), f"{step.name} has no class on {resource}"
        for cls in loaded:  # and no class is listed where none of its steps run
            assert any(hasattr(cls, s.name) for s in STEPS if s.resource is resource), f"{cls} on {resource}"


PRELOAD = """
import json, sys
import workers.serve
from mlwright.queues import Resource
from workers import definitions

definitions.preload_libraries([Resource(sys.argv[1])])
print(json.dumps(sorted(m for m in sys.argv[2:] if m in sys.modules)))
"""


@pytest.mark.parametrize(("resource", "preloaded"), [
    (Resource.IO, {"numpy", "pandas", "pyarrow"}),
    (Resource.CPU, {"numpy", "pandas", "pyarrow"}),
    (Resource.TRAINING, set()),
])
def test_an_idle_worker_preloads_its_libraries_not_its_step_code_or_store(resource, preloaded):
    """What an idle worker holds (issue 10: io/cpu ≤ 180 MB): the slow shared libraries, not the
    step code, SQLAlchemy, sqlglot or httpx, which its first step imports."""
    done = subprocess.run([sys.executable, "-c", PRELOAD, resource.value, *HEAVY, "sqlglot", "activities.datasets"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout.splitlines()[-1])) == preloaded


FIRST_STEP = """
import json, sys
import workers.serve
from mlwright.queues import Resource
from mlwright.settings import Settings
from workers import definitions

resource, settings = Resource(sys.argv[1]), Settings(home=sys.argv[2], worker_preload=sys.argv[3] == "true")
implementations = definitions._Implementations(resource, definitions.DepsOnFirstUse(settings), settings)
before = "sklearn" in sys.modules
implementations.method(definitions.STEPS[[s.name for s in definitions.STEPS].index(sys.argv[4])])
print(json.dumps({"before": before, "after": sorted(m for m in definitions.AFTER_FIRST_STEP.get(resource, ())
                                                     if m in sys.modules)}))
"""


@pytest.mark.parametrize("preload", [True, False])
def test_the_cpu_worker_imports_scikit_learn_with_its_first_step(tmp_path, preload):
    """Not while idle (the idle-memory target), but before its pipelines' model steps need it."""
    from workers.definitions import AFTER_FIRST_STEP, STEPS

    step = next(s.name for s in STEPS if s.resource is Resource.CPU and s.name == "validate_labs")
    done = subprocess.run([sys.executable, "-c", FIRST_STEP, Resource.CPU.value, str(tmp_path), str(preload).lower(),
                           step], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    imported = json.loads(done.stdout.splitlines()[-1])
    assert not imported["before"]
    assert imported["after"] == (sorted(AFTER_FIRST_STEP[Resource.CPU]) if preload else [])
