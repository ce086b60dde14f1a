"""Settings shared by every tier: no real AWS credentials or endpoints can leak into a test run."""

import functools
import os
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Speed is measured by benchmarks, not by tests: no per-example deadline, and no failure when a cold, busy
# CI machine makes input generation slow.
settings.register_profile("project", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("project")

# moto's request recorder (used to count AWS calls) reads its file location when moto is imported.
os.environ.setdefault("MOTO_RECORDER_FILEPATH", os.path.join(tempfile.mkdtemp(), "moto-recording.jsonl"))
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-2",
        "POWERTOOLS_METRICS_NAMESPACE": "PortOneBilling",
        "POWERTOOLS_SERVICE_NAME": "billing",
    }
)


@pytest.fixture(scope="session", autouse=True)
def _botocore_models_parsed_once() -> Iterator[None]:
    """Every boto3 session of the test run reads botocore's service models through one loader.

    Each test starts a cold container, whose new boto3 session would parse the models again: most of a typical
    integration test's time. botocore's loader caches what it loaded for the clients of its session, which
    never change it; shared, it serves each session the same models, parsed once.
    """
    import botocore.loaders
    import botocore.session

    @functools.cache
    def shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        loader = botocore.loaders.create_loader(search_path_string)
        loader._search_paths = _SearchPaths(loader.search_paths)
        return loader

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", shared_loader)
        yield


class _SearchPaths(list[str]):
    """Each boto3 session appends its data directory to its loader's search paths: a shared loader's once."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@pytest.fixture(autouse=True)
def _fresh_container() -> Iterator[None]:
    """Each test starts like a cold Lambda container: no cached settings, service, client or token."""
    from tests.integration.support import new_container

    new_container()
    yield
    new_container()
