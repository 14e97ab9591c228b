"""The Helm chart (deploy/helm/megatts3-server) without a cluster: rendered by Helm's own engine (the
helm-python-sdk package binds libhelm, Helm v4's Go SDK), every object validated against the Kubernetes
1.30 schemas in strict mode (kubernetes-validate: an unknown apiVersion, kind or field fails), KEDA's
ScaledObject (a CRD those schemas lack) against a hand-written check of its fields, and what a user relies
on: probes, grace period, autoscaling, the config files loading as the service's settings, the Secret."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

import megatts3_server
from megatts3_server.config import load_settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "megatts3-server"
KUBERNETES = "1.30"
RELEASE, NAMESPACE = "tts", "voice"
FULLNAME = "tts-megatts3-server"
DATABASE_URL = "postgresql://tts:secret@db.voice.svc:5432/megatts3"
PROMETHEUS = "http://prometheus-server.monitoring.svc:80"

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "gpu": {"gpu": {"enabled": True, "nodeSelector": {"nvidia.com/gpu.present": "true"}}},
    "postgres": {"postgres": {"url": DATABASE_URL}},
    "keda": {"postgres": {"url": DATABASE_URL}, "keda": {"enabled": True, "serverAddress": PROMETHEUS}},
    "hpa": {"postgres": {"url": DATABASE_URL}, "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6}},
    "worker": {"postgres": {"url": DATABASE_URL}, "worker": {"enabled": True}},
    "existing-secret": {"secret": {"existingSecret": "tts-keys"}, "postgres": {"existingSecret": "tts-db"}},
    "replicas-3": {"replicaCount": 3, "postgres": {"url": DATABASE_URL}},
    "persistence": {"persistence": {"enabled": True, "storageClass": "fast", "size": "20Gi"}},
    "everything": {
        "replicaCount": 2,
        "containerPort": 9100,
        "metricsPort": 9191,
        "apiTimeoutSeconds": 120,
        "postgres": {"url": DATABASE_URL},
        "redis": {
            "cacheUrl": "redis://:pw@redis.voice.svc:6379/0",
            "rateLimitUrl": "redis://:pw@redis.voice.svc:6379/1",
        },
        "auth": {
            "apiKeys": ["k1", "k2"],
            "unlimitedKeys": ["batch"],
            "adminKeys": ["ops"],
            "trustedNetworks": ["10.244.0.0/16"],
        },
        "forwardedAllowIps": "*",
        "env": {"LOG_LEVEL": "DEBUG", "MEGATTS3_MAX_QUEUE": 64},
        "extraEnv": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "extraVolumes": [{"name": "checkpoints", "persistentVolumeClaim": {"claimName": "ckpt", "readOnly": True}}],
        "extraVolumeMounts": [{"name": "checkpoints", "mountPath": "/app/checkpoints", "readOnly": True}],
        "gpu": {"enabled": True},
        "worker": {
            "enabled": True,
            "livenessProbe": {"exec": {"command": ["megatts3-server", "--help"]}, "periodSeconds": 60},
        },
        "podDisruptionBudget": {"minAvailable": 1},
        "autoscaling": {
            "enabled": True,
            "minReplicas": 2,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 600}},
        },
    },
}


# ---------------------------------------------------------------- rendering and validation


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object the chart renders with these values (NOTES.txt aside)."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def notes(values: dict[str, Any] | None = None) -> str:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))


def render_error(values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmRenderError) as caught:
        render(values)
    return str(caught.value)


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def api_deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment", FULLNAME)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# spec fields of keda.sh/v1alpha1 ScaledObject (KEDA 2.x CRD).
_SCALED_OBJECT_SPEC = {
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}


def check_scaled_object(obj: dict[str, Any]) -> None:
    """The fields KEDA's CRD requires, with their types (its schema is not in kubernetes-validate)."""
    assert set(obj) <= {"apiVersion", "kind", "metadata", "spec"}, set(obj)
    assert obj["apiVersion"] == "keda.sh/v1alpha1"
    assert _DNS_LABEL.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63
    spec = obj["spec"]
    assert set(spec) <= _SCALED_OBJECT_SPEC, set(spec) - _SCALED_OBJECT_SPEC
    target = spec["scaleTargetRef"]
    assert set(target) <= {"apiVersion", "kind", "name", "envSourceContainerName"}
    assert isinstance(target["name"], str) and target["name"]
    for key in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount"):
        if key in spec:
            assert isinstance(spec[key], int) and not isinstance(spec[key], bool) and spec[key] >= 0, key
    assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100)
    assert isinstance(spec["triggers"], list) and spec["triggers"], "a ScaledObject needs at least one trigger"
    for trigger in spec["triggers"]:
        assert set(trigger) <= {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
        assert isinstance(trigger["type"], str) and trigger["type"]
        metadata = trigger["metadata"]
        assert all(isinstance(v, str) for v in metadata.values()), "trigger metadata values are strings"
        if trigger["type"] == "prometheus":
            assert {"serverAddress", "query", "threshold"} <= set(metadata)
            assert metadata["serverAddress"].startswith(("http://", "https://"))
            float(metadata["threshold"])


def validate(obj: dict[str, Any]) -> None:
    """Strict validation of one object; only KEDA's ScaledObject takes the hand-written check."""
    if (obj.get("apiVersion"), obj.get("kind")) == ("keda.sh/v1alpha1", "ScaledObject"):
        check_scaled_object(obj)
        return
    # An unknown apiVersion/kind raises SchemaNotFoundError, an unknown or wrong field ValidationError.
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_the_validator_is_strict() -> None:
    deployment = api_deployment(render())
    validate(deployment)
    typo = yaml.safe_load(yaml.safe_dump(deployment))
    typo["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(typo)
    for api_version, kind in (("apps/v1beta1", "Deployment"), ("monitoring.coreos.com/v1", "ServiceMonitor")):
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            validate({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})
    scaled = one(render(VALUE_SETS["keda"]), "ScaledObject")
    broken = yaml.safe_load(yaml.safe_dump(scaled))
    del broken["spec"]["triggers"][0]["metadata"]["query"]
    with pytest.raises(AssertionError):
        check_scaled_object(broken)


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_every_rendered_object_is_valid_kubernetes(case: str) -> None:
    objects = render(VALUE_SETS[case])
    assert objects
    for obj in objects:
        try:
            validate(obj)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} ({case}): {getattr(exc, 'message', exc)}")
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names)), names
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
        assert "namespace" not in obj["metadata"]  # Helm's --namespace places them


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_helm_lint_has_no_warning(case: str) -> None:
    report = helm.lint(CHART, VALUE_SETS[case], strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_default_render_is_one_api_deployment_with_its_service() -> None:
    objects = render()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "Service", "ServiceAccount"]
    assert api_deployment(objects)["spec"]["replicas"] == 1


# ---------------------------------------------------------------- the chart's metadata


def test_chart_is_v2_with_the_package_version_as_app_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "megatts3-server"
    assert chart["appVersion"] == megatts3_server.__version__
    image = container(api_deployment(render()))["image"]
    assert image == f"megatts3-server:{megatts3_server.__version__}"
    assert container(api_deployment(render({"image": {"repository": "r.io/tts", "tag": "1.2.3-cuda"}})))["image"] == (
        "r.io/tts:1.2.3-cuda"
    )


def test_chart_files_are_the_repository_configs() -> None:
    for name in ("model_config.yaml", "api_config.yaml"):
        assert (CHART / "files" / name).read_text() == (REPO / "configs" / name).read_text(), (
            f"deploy/helm/megatts3-server/files/{name} differs from configs/{name}: copy it again"
        )


# ---------------------------------------------------------------- probes, ports, shutdown


@pytest.mark.parametrize("port", [9000, 9100])
def test_probes_hit_health_and_ready_on_the_container_port(port: int) -> None:
    objects = render({"containerPort": port})
    main = container(api_deployment(objects))
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"http": port, "metrics": 9090}
    for probe, path in (("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        assert main[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "the model needs minutes to load"
    # The service listens where the probes look: MEGATTS3_PORT (over the config file's api.port).
    env = one(objects, "ConfigMap", f"{FULLNAME}-env")["data"]
    assert env["MEGATTS3_PORT"] == str(port)
    assert env["MEGATTS3_METRICS_PORT"] == "9090"
    # Prometheus scrapes the pod's address: the listener may not stay on its default, loopback.
    assert env["MEGATTS3_METRICS_HOST"] == "0.0.0.0"
    service = one(objects, "Service", FULLNAME)
    assert service["spec"]["type"] == "ClusterIP"
    assert {(p["name"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        ("http", "http"),
        ("metrics", "metrics"),
    }


def test_service_selects_the_api_pods_only() -> None:
    objects = render(VALUE_SETS["worker"])
    selector = one(objects, "Service", FULLNAME)["spec"]["selector"]
    api_labels = api_deployment(objects)["spec"]["template"]["metadata"]["labels"]
    worker_labels = one(objects, "Deployment", f"{FULLNAME}-worker")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= api_labels.items()
    assert not selector.items() <= worker_labels.items()
    assert api_deployment(objects)["spec"]["selector"]["matchLabels"] == selector


@pytest.mark.parametrize(
    ("values", "grace", "timeout"),
    [
        ({}, 330, 300),
        ({"apiTimeoutSeconds": 600}, 630, 600),
        ({"terminationGracePeriodSeconds": 400}, 400, 300),
        ({"apiTimeoutSeconds": 60, "terminationGracePeriodSeconds": 66}, 66, 60),
        ({"apiTimeoutSeconds": 60, "terminationGracePeriodSeconds": 61, "preStopSleepSeconds": 0}, 61, 60),
    ],
)
def test_termination_grace_outlasts_the_api_timeout(values: dict[str, Any], grace: int, timeout: int) -> None:
    objects = render(values)
    pod = api_deployment(objects)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == grace
    assert grace > timeout
    assert one(objects, "ConfigMap", f"{FULLNAME}-env")["data"]["MEGATTS3_TIMEOUT"] == str(timeout)


@pytest.mark.parametrize(
    "values",
    [
        {"terminationGracePeriodSeconds": 300},
        {"terminationGracePeriodSeconds": 30},
        {"apiTimeoutSeconds": 900, "terminationGracePeriodSeconds": 600},
        {"apiTimeoutSeconds": 60, "terminationGracePeriodSeconds": 63},  # within the preStop sleep
    ],
)
def test_a_grace_period_not_above_the_timeout_fails_rendering(values: dict[str, Any]) -> None:
    message = render_error(values)
    assert "terminationGracePeriodSeconds" in message and "must be greater than apiTimeoutSeconds" in message


def test_a_stopping_pod_leaves_the_endpoints_first() -> None:
    main = container(api_deployment(render()))
    assert main["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert "lifecycle" not in container(api_deployment(render({"preStopSleepSeconds": 0})))


# ---------------------------------------------------------------- security and volumes


def test_pods_run_non_root_on_a_read_only_root_with_writable_volumes() -> None:
    objects = render()
    pod = api_deployment(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    main = container(api_deployment(objects))
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert main["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in ("/tmp", "/app/storage", "/app/logs"):
        assert "emptyDir" in volumes[mounts[path]], path
    assert volumes[mounts["/etc/megatts3"]]["configMap"]["name"] == f"{FULLNAME}-config"
    env = one(objects, "ConfigMap", f"{FULLNAME}-env")["data"]
    assert (env["MEGATTS3_STORAGE_DIR"], env["MEGATTS3_LOG_DIR"]) == ("/app/storage", "/app/logs")


def test_persistence_puts_storage_on_a_claim() -> None:
    objects = render(VALUE_SETS["persistence"])
    claim = one(objects, "PersistentVolumeClaim")
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    volumes = {v["name"]: v for v in api_deployment(objects)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["storage"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    existing = render({"persistence": {"enabled": True, "existingClaim": "voices"}})
    assert not find(existing, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in api_deployment(existing)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["storage"]["persistentVolumeClaim"]["claimName"] == "voices"


# ---------------------------------------------------------------- GPU


def test_gpu_requests_one_nvidia_gpu_and_tolerates_gpu_nodes() -> None:
    pod = api_deployment(render(VALUE_SETS["gpu"]))["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert main["resources"]["limits"]["memory"] == "8Gi"  # the other limits stay
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    cpu_pod = api_deployment(render())["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in cpu_pod["containers"][0]["resources"].get("limits", {})
    assert "tolerations" not in cpu_pod and "nodeSelector" not in cpu_pod


# ---------------------------------------------------------------- replicas, PDB, autoscaling


def test_replicas_and_the_disruption_budget() -> None:
    objects = render(VALUE_SETS["replicas-3"])
    deployment = api_deployment(objects)
    assert deployment["spec"]["replicas"] == 3
    budget = one(objects, "PodDisruptionBudget", FULLNAME)
    assert budget["apiVersion"] == "policy/v1"
    assert budget["spec"]["minAvailable"] == 1
    assert (
        budget["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    # One pod with minAvailable 1 would block every node drain: no budget then.
    assert not find(render(), "PodDisruptionBudget")
    assert not find(render({"replicaCount": 3, "podDisruptionBudget": {"enabled": False}}), "PodDisruptionBudget")


def test_hpa_scales_the_deployment_on_queue_depth() -> None:
    objects = render(
        VALUE_SETS["hpa"]
        | {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6, "targetQueueDepth": "3"}}
    )
    deployment = api_deployment(objects)
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    hpa = one(objects, "HorizontalPodAutoscaler", FULLNAME)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "megatts3_queue_depth"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "3"}
    assert one(objects, "PodDisruptionBudget", FULLNAME)  # minReplicas 2
    assert not find(objects, "ScaledObject")
    assert "prometheus-adapter" in notes(VALUE_SETS["hpa"])


def test_keda_replaces_the_hpa() -> None:
    values = VALUE_SETS["keda"] | {"autoscaling": {"enabled": True}}
    objects = render(values)
    assert not find(objects, "HorizontalPodAutoscaler")
    scaled = one(objects, "ScaledObject", FULLNAME)
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == api_deployment(objects)["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"] == {"serverAddress": PROMETHEUS, "query": "sum(megatts3_queue_depth)", "threshold": "4"}
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 4)
    assert "replicas" not in api_deployment(objects)["spec"]
    assert "keda.serverAddress" in render_error({"keda": {"enabled": True}})


# ---------------------------------------------------------------- configuration, secrets


def _pod_environment(objects: list[dict[str, Any]], secrets: dict[str, str] | None = None) -> dict[str, str]:
    """The variables the API container gets: its envFrom sources (the chart's Secret, or `secrets` for a
    Secret it does not create) and its plain env entries."""
    main = container(api_deployment(objects))
    env: dict[str, str] = {}
    for source in main["envFrom"]:
        if "configMapRef" in source:
            env.update(one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            name = source["secretRef"]["name"]
            created = find(objects, "Secret", name)
            env.update(created[0]["stringData"] if created else (secrets or {}))
    for entry in main.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = (secrets or {})[entry["valueFrom"]["secretKeyRef"]["key"]]
    return env


def _config_files(objects: list[dict[str, Any]], folder: Path) -> tuple[Path, Path]:
    data = one(objects, "ConfigMap", f"{FULLNAME}-config")["data"]
    assert set(data) == {"model_config.yaml", "api_config.yaml"}
    model, api = folder / "model_config.yaml", folder / "api_config.yaml"
    model.write_text(data["model_config.yaml"])
    api.write_text(data["api_config.yaml"])
    return model, api


def test_config_map_holds_both_files_and_they_load_as_the_settings(tmp_path: Path) -> None:
    objects = render()
    data = one(objects, "ConfigMap", f"{FULLNAME}-config")["data"]
    assert yaml.safe_load(data["model_config.yaml"]) == yaml.safe_load(
        (REPO / "configs" / "model_config.yaml").read_text()
    )
    assert yaml.safe_load(data["api_config.yaml"]) == yaml.safe_load((REPO / "configs" / "api_config.yaml").read_text())
    model, api = _config_files(objects, tmp_path)
    settings = load_settings(model, api, env=_pod_environment(objects))
    assert settings.model.engine == "kokoro"
    assert (settings.api.host, settings.api.port, settings.api.timeout) == ("0.0.0.0", 9000, 300)
    assert (settings.api.monitoring.metrics_host, settings.api.monitoring.metrics_port) == ("0.0.0.0", 9090)
    assert settings.api.forwarded_allow_ips == "", "no proxy may name the client unless forwardedAllowIps says"
    assert settings.storage.backend == "sqlite"
    assert settings.storage.voice_samples_dir == Path("/app/storage/voices")
    assert settings.logging.file == Path("/app/logs/megatts3.log")
    # The container reads the mounted files.
    main = container(api_deployment(objects))
    assert main["command"] == [
        "megatts3-server", "serve", "--config", "/etc/megatts3/api_config.yaml",
        "--model-config", "/etc/megatts3/model_config.yaml",
    ]  # fmt: skip


def test_inline_config_files_replace_the_shipped_ones(tmp_path: Path) -> None:
    model_yaml = "model:\n  engine: kokoro\n  default_voice: voice_003\n"
    api_yaml = "api:\n  scheduler:\n    max_queue: 8\nlogging:\n  level: DEBUG\n"
    objects = render({"config": {"modelConfig": model_yaml, "apiConfig": api_yaml}})
    data = one(objects, "ConfigMap", f"{FULLNAME}-config")["data"]
    assert data == {"model_config.yaml": model_yaml, "api_config.yaml": api_yaml}
    settings = load_settings(*_config_files(objects, tmp_path), env=_pod_environment(objects))
    assert (settings.model.default_voice, settings.api.scheduler.max_queue, settings.logging.level) == (
        "voice_003", 8, "DEBUG",
    )  # fmt: skip


def test_a_changed_config_rolls_the_pods() -> None:
    before = api_deployment(render())["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    after = api_deployment(render({"config": {"apiConfig": "api:\n  port: 9000\n"}}))
    assert after["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != before


def test_everything_set_loads_as_the_settings(tmp_path: Path) -> None:
    objects = render(VALUE_SETS["everything"])
    settings = load_settings(*_config_files(objects, tmp_path), env=_pod_environment(objects))
    assert (settings.api.port, settings.api.timeout, settings.api.monitoring.metrics_port) == (9100, 120, 9191)
    assert settings.storage.backend == "postgres" and settings.storage.database_url == DATABASE_URL
    assert settings.model.cache.backend == "redis"
    assert settings.model.cache.redis.url == "redis://:pw@redis.voice.svc:6379/0"
    assert settings.api.rate_limit.storage == "redis://:pw@redis.voice.svc:6379/1"
    assert settings.api.auth.api_keys == ["k1", "k2"] and settings.api.auth.unlimited_keys == ["batch"]
    assert settings.api.auth.admin_keys == ["ops"]
    assert [str(n) for n in settings.api.trusted_networks] == ["10.244.0.0/16"]
    assert settings.api.forwarded_allow_ips == "*"
    assert (settings.logging.level, settings.api.scheduler.max_queue) == ("DEBUG", 64)
    main = container(api_deployment(objects))
    assert {"name": "checkpoints", "mountPath": "/app/checkpoints", "readOnly": True} in main["volumeMounts"]
    assert main["readinessProbe"]["httpGet"]["port"] == "http"
    assert {p["name"]: p["containerPort"] for p in main["ports"]} == {"http": 9100, "metrics": 9191}
    assert api_deployment(objects)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 150


def test_secret_carries_the_keys_and_the_database_url(tmp_path: Path) -> None:
    objects = render({"auth": {"apiKeys": ["k1", "k2"]}, "postgres": {"url": DATABASE_URL}})
    secret = one(objects, "Secret", f"{FULLNAME}-secret")
    assert secret["type"] == "Opaque"
    assert secret["stringData"] == {"MEGATTS3_API_KEYS": "k1,k2", "MEGATTS3_DATABASE_URL": DATABASE_URL}
    main = container(api_deployment(objects))
    assert {"secretRef": {"name": f"{FULLNAME}-secret"}} in main["envFrom"]
    env = one(objects, "ConfigMap", f"{FULLNAME}-env")["data"]
    assert env["MEGATTS3_STORAGE_BACKEND"] == "postgres"
    assert "MEGATTS3_DATABASE_URL" not in env and "MEGATTS3_API_KEYS" not in env, "secrets stay out of the ConfigMap"
    settings = load_settings(*_config_files(objects, tmp_path), env=_pod_environment(objects))
    assert settings.api.auth.api_keys == ["k1", "k2"]
    assert (settings.storage.backend, settings.storage.database_url) == ("postgres", DATABASE_URL)
    # Nothing secret, nothing to keep: no Secret, and SQLite stays the store.
    defaults = render()
    assert not find(defaults, "Secret")
    assert "MEGATTS3_STORAGE_BACKEND" not in one(defaults, "ConfigMap", f"{FULLNAME}-env")["data"]


def test_existing_secrets_are_used_instead_of_the_charts(tmp_path: Path) -> None:
    objects = render(VALUE_SETS["existing-secret"])
    assert not find(objects, "Secret")
    main = container(api_deployment(objects))
    assert {"secretRef": {"name": "tts-keys"}} in main["envFrom"]
    (database,) = [e for e in main["env"] if e["name"] == "MEGATTS3_DATABASE_URL"]
    assert database["valueFrom"]["secretKeyRef"] == {"name": "tts-db", "key": "MEGATTS3_DATABASE_URL"}
    assert one(objects, "ConfigMap", f"{FULLNAME}-env")["data"]["MEGATTS3_STORAGE_BACKEND"] == "postgres"
    secrets = {"MEGATTS3_API_KEYS": "a,b", "MEGATTS3_DATABASE_URL": DATABASE_URL}
    settings = load_settings(*_config_files(objects, tmp_path), env=_pod_environment(objects, secrets))
    assert settings.api.auth.api_keys == ["a", "b"]
    assert (settings.storage.backend, settings.storage.database_url) == ("postgres", DATABASE_URL)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"secret": {"existingSecret": "tts-keys"}, "auth": {"apiKeys": ["k"]}}, "auth.apiKeys"),
        ({"secret": {"existingSecret": "tts-keys"}, "auth": {"adminKeys": ["k"]}}, "auth.adminKeys"),
        ({"secret": {"existingSecret": "tts-keys"}, "postgres": {"url": DATABASE_URL}}, "postgres.url"),
        ({"secret": {"existingSecret": "tts-keys"}, "redis": {"cacheUrl": "redis://r:6379/0"}}, "redis.cacheUrl"),
        ({"postgres": {"url": DATABASE_URL, "existingSecret": "tts-db"}}, "not both"),
        ({"worker": {"enabled": True}}, "worker.enabled needs postgres"),
        ({"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}, "autoscaling.minReplicas"),
    ],
)
def test_values_that_cannot_work_fail_rendering_with_the_reason(values: dict[str, Any], named: str) -> None:
    assert named in render_error(values)


def test_several_replicas_without_postgres_are_warned_about() -> None:
    assert "WARNING" in notes({"replicaCount": 3})
    assert "WARNING" not in notes(VALUE_SETS["replicas-3"])


# ---------------------------------------------------------------- the enrollment worker


def test_worker_runs_enrollment_jobs_without_a_service_or_http_probes() -> None:
    objects = render(VALUE_SETS["worker"])
    worker = one(objects, "Deployment", f"{FULLNAME}-worker")
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30  # it hands its job back
    main = container(worker)
    assert main["command"] == ["megatts3-server", "worker"]
    assert main["image"] == container(api_deployment(objects))["image"]
    assert main["envFrom"] == container(api_deployment(objects))["envFrom"]
    assert "ports" not in main
    assert not {"startupProbe", "livenessProbe", "readinessProbe"} & set(main)
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert [s["metadata"]["name"] for s in find(objects, "Service")] == [FULLNAME]
    assert not find(render(VALUE_SETS["postgres"]), "Deployment", f"{FULLNAME}-worker")
    probed = container(one(render(VALUE_SETS["everything"]), "Deployment", f"{FULLNAME}-worker"))
    assert "exec" in probed["livenessProbe"] and "httpGet" not in probed["livenessProbe"]


def test_with_a_worker_the_api_pods_leave_enrollment_to_it(tmp_path: Path) -> None:
    objects = render(VALUE_SETS["worker"])
    api_env = {e["name"]: e.get("value") for e in container(api_deployment(objects))["env"]}
    assert api_env["MEGATTS3_ENROLLMENT"] == "false"
    worker = container(one(objects, "Deployment", f"{FULLNAME}-worker"))
    assert "MEGATTS3_ENROLLMENT" not in {e["name"] for e in worker.get("env", [])}
    settings = load_settings(*_config_files(objects, tmp_path), env=_pod_environment(objects))
    assert settings.api.enrollment is False
    # Without a worker (or with worker.apiPodsEnroll) the API pods enroll, as a single server does.
    assert "env" not in container(api_deployment(render(VALUE_SETS["postgres"])))
    both = render(VALUE_SETS["worker"] | {"worker": {"enabled": True, "apiPodsEnroll": True}})
    assert "MEGATTS3_ENROLLMENT" not in {e["name"] for e in container(api_deployment(both)).get("env", [])}
