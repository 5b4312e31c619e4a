"""Kubernetes manifests (offline schemas), rendered nginx/supervisord configs, .env.example."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.ops import k8s
from bot.ops.prod import render, services, write_configs
from bot.ops.settings import ProdSettings
from bot.paths import ROOT

DOCS = k8s.documents()


@pytest.mark.parametrize("name,doc", DOCS, ids=[f"{n}:{d['kind']}" for n, d in DOCS])
def test_every_manifest_is_valid_kubernetes(name, doc):
    assert k8s.validate(doc) == []


def test_the_schema_check_is_strict():
    deployment = copy.deepcopy(next(d for _, d in DOCS if d["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    deployment["spec"]["replicas"] = "two"
    errors = k8s.validate(deployment)
    assert any("imagePullPolicyy" in e for e in errors)
    assert any("replicas" in e for e in errors)


def test_the_manifests_cover_what_the_issue_asks():
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in DOCS}
    for wanted in [("Deployment", "jiebang-rasa"), ("Deployment", "jiebang-actions"),
                   ("Service", "jiebang-rasa"), ("Ingress", "jiebang"),
                   ("ConfigMap", "jiebang-config"), ("Secret", "jiebang-secrets"),
                   ("CronJob", "jiebang-privacy-purge")]:
        assert wanted in kinds
    images = {c["image"] for _, d in DOCS if d["kind"] in ("Deployment", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert len(images) == 1, "every process runs the same image"
    rasa = next(d for _, d in DOCS if d["metadata"]["name"] == "jiebang-rasa"
                and d["kind"] == "Deployment")
    args = rasa["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "deploy/endpoints.prod.yml" in args and "--auth-token" not in args


def test_ingress_publishes_only_channels_and_the_web_app():
    ingress = next(d for _, d in DOCS if d["kind"] == "Ingress")
    paths = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert all(p.startswith("/webhooks/") and "ops" not in p or p == "/" for p in paths)
    web = [p for r in ingress["spec"]["rules"] for p in r["http"]["paths"] if p["path"] == "/"]
    assert web[0]["backend"]["service"]["name"] == "jiebang-web"


def test_secret_holds_placeholders_only():
    secret = next(d for _, d in DOCS if d["kind"] == "Secret")
    for key, value in secret["stringData"].items():
        assert value == "" or "CHANGE_ME" in value, key


def documented() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))


def test_env_example_documents_every_variable():
    names = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("actions/*.py")]:
        if "loadtest" in path.parts or "bench" in path.parts:
            continue
        source = path.read_text()
        names |= set(re.findall(r"environ(?:\.get)?[\(\[]\s*\"([A-Z][A-Z0-9_]+)\"", source))
        if path.name == "settings.py":
            names |= set(re.findall(r"\bget\(\"([A-Z][A-Z0-9_]+)\",", source))
        names |= set(re.findall(r"setting\([^)]*\"([A-Z][A-Z0-9_]+)\"\)", source))
    for prefix in ("WECHAT", "WECOM"):
        names |= {f"{prefix}_{s}" for s in ("API_BASE", "KEY_PREFIX", "MENU_FILE",
                                             "REPLY_TIMEOUT")}
    for _, doc in DOCS:
        if doc["kind"] in ("ConfigMap", "Secret"):
            names |= set((doc.get("data") or doc.get("stringData")).keys())
    names -= {"PATH", "HOME", "CI", "REQUIRE_SERVICES", "DATABASE_URL_TEST", "REDIS_URL_TEST",
              "TF_CPP_MIN_LOG_LEVEL", "SQLALCHEMY_SILENCE_UBER_WARNING"}
    missing = sorted(n for n in names if n not in documented())
    assert missing == []


def test_env_example_has_no_secret_values():
    for line in (ROOT / ".env.example").read_text().splitlines():
        if re.match(r"^[A-Z_]*(TOKEN|SECRET|KEY|PASSWORD)[A-Z_]*=", line):
            assert line.split("=", 1)[1] == "", line


def test_endpoints_use_postgres_tracker_and_redis_lock_store():
    endpoints = yaml.safe_load((ROOT / "deploy/endpoints.prod.yml").read_text())
    assert endpoints["tracker_store"]["type"] == "bot.ops.stores.ProdTrackerStore"
    assert endpoints["lock_store"]["type"] == "bot.ops.locks.AtomicRedisLockStore"
    assert endpoints["lock_store"]["url"] == "${REDIS_URL}"
    credentials = yaml.safe_load((ROOT / "deploy/credentials.prod.yml").read_text())
    assert "bot.ops.channels.ObservedRestInput" in credentials
    assert not any("rest.RestInput" in k or k == "rest" for k in credentials)


def test_render_refuses_a_missing_value():
    with pytest.raises(ValueError):
        render("listen {{port}};", {})


def test_supervisord_runs_and_restarts_every_process(tmp_path: Path):
    settings = ProdSettings(run_dir=tmp_path)
    names = [s.name for s in services(settings)]
    assert names == ["actions-1", "actions-2", "rasa-1", "rasa-2", "web", "outbox-1",
                     "outbox-2", "nginx"]
    rasa = next(s for s in services(settings) if s.name == "rasa-1")
    assert "--auth-token" not in rasa.argv, "the token must not show in ps"


@pytest.mark.nginx
def test_rendered_nginx_config_passes_nginx_t(tmp_path: Path, nginx):
    settings = ProdSettings(run_dir=tmp_path)
    write_configs(settings, token="x" * 32)  # runs nginx -t, raises on failure
    conf = (tmp_path / "nginx.conf").read_text()
    assert conf.count("server 127.0.0.1:510") == 2 and conf.count("server 127.0.0.1:515") == 2
    assert oct((tmp_path / "nginx.conf").stat().st_mode)[-3:] == "600"
    supervisord = (tmp_path / "supervisord.conf").read_text()
    assert supervisord.count("\nautorestart=true") == 8
    check = subprocess.run([nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p",
                            str(tmp_path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
