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
