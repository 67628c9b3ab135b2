"""The course deployment (compose.yaml + deploy/haproxy.cfg), checked statically: there is no Docker engine here."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
HAPROXY = (ROOT / "deploy" / "haproxy.cfg").read_text()
APPS = ("app-a", "app-b")


def test_the_course_has_its_five_services():
    assert set(SERVICES) == {"postgres", "ray-head", *APPS, "balancer"}


def test_every_service_has_a_health_check_and_a_non_root_user():
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        user = str(service.get("user", ""))
        assert user and user not in ("root", "0") and not user.startswith("0:"), f"{name} runs as {user or 'root'}"


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_secrets_come_from_the_environment_and_are_required():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "TOKEN")):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{name}.{key} is not a required variable"
            if "DATABASE_URL" in key:
                assert re.search(r":\$\{LOSSVIZ_DB_PASSWORD:\?[^}]+\}@", value), f"{name}.{key} embeds a password"


def test_replicas_share_one_store_and_one_ray_cluster():
    urls = {SERVICES[app]["environment"]["LOSSVIZ_DATABASE_URL"] for app in APPS}
    addresses = {SERVICES[app]["environment"]["LOSSVIZ_RAY_ADDRESS"] for app in APPS}
    assert len(urls) == 1 and next(iter(urls)).startswith("postgresql+psycopg://")
    assert addresses == {"ray://ray-head:10001"}
    assert "--ray-client-server-port=10001" in SERVICES["ray-head"]["command"]
    for app in APPS:
        assert SERVICES[app]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_balancer_is_sticky_and_knows_both_replicas():
    assert re.search(r"^\s*cookie \w+ insert", HAPROXY, re.M), "no sticky-session cookie"
    servers = re.findall(r"^\s*server (\S+) (\S+):8501 check cookie (\S+)", HAPROXY, re.M)
    assert {host for _, host, _ in servers} == set(APPS)
    assert len({cookie for *_, cookie in servers}) == len(APPS)
    mounted = SERVICES["balancer"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).resolve() == (ROOT / "deploy" / "haproxy.cfg").resolve()
