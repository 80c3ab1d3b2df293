"""docker-compose.yml cannot run here (no Docker engine), so check its shape instead."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_every_part_of_the_deployed_shape():
    services = compose()["services"]
    assert {"postgres", "redis", "temporal", "temporal-ui", "api", "worker", "migrate"} <= set(services)
    assert services["api"]["command"] == ["python", "-m", "api"]
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert services["migrate"]["command"] == ["python", "-m", "cli", "migrate"]
    assert services["api"]["build"] == "." and (ROOT / "Dockerfile").exists()
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_api_and_worker_get_every_required_variable_and_only_known_ones():
    services = compose()["services"]
    known = {f.alias for f in Settings.model_fields.values() if f.alias} - {"CONVERGE_DEV_MODE"}
    required = {"DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS", "TOKEN_ENCRYPTION_KEYS", "ZOOM_CLIENT_ID",
                "ZOOM_CLIENT_SECRET", "ZOOM_REDIRECT_URI", "ZOOM_WEBHOOK_SECRET_TOKEN", "ZOOM_S2S_ACCOUNT_ID",
                "ZOOM_S2S_CLIENT_ID", "ZOOM_S2S_CLIENT_SECRET", "ZOOM_SYSTEM_HOSTS", "RECORDINGS_DIR"}
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert required <= set(env), f"{name} misses {required - set(env)}"
        assert set(env) <= known, f"{name} sets unknown variables {set(env) - known}"
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    # Secrets must come from the operator, never from a default in the file.
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in ("TOKEN_ENCRYPTION_KEYS", "ZOOM_CLIENT_SECRET", "ZOOM_S2S_CLIENT_SECRET", "ADMIN_API_KEY"):
        assert re.search(rf"{secret}: \$\{{{secret}:\?", text), secret


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out of the build context: the last matching pattern wins
    ('!' re-includes), and a pattern that matches a directory leaves out everything under it."""
    from fnmatch import fnmatchcase

    parts = path.split("/")
    excluded = False
    for raw in patterns:
        negate, pattern = raw.startswith("!"), raw.lstrip("!").strip("/")
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if pattern.startswith("**/"):
            candidates += ["/".join(parts[j:i]) for i in range(1, len(parts) + 1) for j in range(i)]
            pattern = pattern[3:]
        if any(fnmatchcase(c, pattern) for c in candidates):
            excluded = not negate
    return excluded


def test_the_image_build_context_leaves_out_local_secrets_data_and_venv():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in (".env", ".env.production", ".data/dev-token-key", ".data/postgres/base/1",
                 ".venv/bin/python", ".git/config", "api/__pycache__/app.cpython-311.pyc"):
        assert dockerignored(path, patterns), path
    for path in ("api/app.py", "pyproject.toml", "models/migrations/versions/0001_initial_schema.py",
                 "zoom_emulator/app.py"):
        assert not dockerignored(path, patterns), path


def test_the_api_listens_on_loopback_unless_api_host_is_set(monkeypatch):
    import asyncio

    import api.__main__ as entry
    from tests.helpers import make_settings

    bound = []

    class Stop(Exception):
        pass

    class FakeSite:
        def __init__(self, runner, host, port):
            bound.append(host)

        async def start(self):
            raise Stop()

    class FakePool:
        async def fill_pool(self):
            pass

    class FakeServices:
        db = FakePool()

        async def wait_for_dependencies(self, *, temporal):
            pass

        async def close(self):
            pass

    async def nothing(app):
        yield

    for env, expected in (({}, "127.0.0.1"), ({"API_HOST": "0.0.0.0"}, "0.0.0.0")):
        settings = make_settings({"CONVERGE_DEV_MODE": "1", **env})
        monkeypatch.setattr(entry, "load_settings", lambda: settings)
        monkeypatch.setattr(entry.Services, "from_settings", staticmethod(lambda s: FakeServices()))
        monkeypatch.setattr(entry, "create_app", lambda services: __import__("aiohttp").web.Application())
        monkeypatch.setattr(entry.web, "TCPSite", FakeSite)
        for background in ("inbox_sweeper", "booking_reconciler", "orphan_sweeper"):
            monkeypatch.setattr(entry, background, nothing)
        try:
            asyncio.run(entry.main())
        except Stop:
            pass
        assert bound[-1] == expected


def test_temporal_is_the_server_image_with_its_schema_set_up_first_not_auto_setup():
    """Temporal's auto-setup image is deprecated; the server image needs its schema made by
    admin-tools beforehand and a dynamic config file (docs/architecture.md#deployment)."""
    services = compose()["services"]
    images = {name: s.get("image", "") for name, s in services.items()}
    assert not any("auto-setup" in image for image in images.values()), images
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-schema"].startswith("temporalio/admin-tools:")
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    script = services["temporal-schema"]["command"][0]
    for step in ("create", "setup-schema", "update-schema", "temporal_visibility"):
        assert step in script, step
    config = services["temporal"]["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    mount = services["temporal"]["volumes"][0].split(":")[0]
    assert (ROOT / mount / Path(config).name).exists(), "the dynamic config file the server reads is shipped"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["temporal-namespace"]["condition"] == "service_completed_successfully"
        assert services[name]["deploy"]["replicas"] >= 1


def test_compose_restarts_the_api_and_the_worker_when_they_die():
    services = compose()["services"]
    assert services["api"]["restart"] == services["worker"]["restart"] == "unless-stopped"
