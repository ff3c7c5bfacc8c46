"""The hermetic toolchain: pins agree with the SDKs, binaries tell their pinned versions,
and the built engine previews a program offline."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.toolchain.support import REPO, TOOLCHAIN, Runner, read_requirement_pins

pytestmark = pytest.mark.toolchain

# requirements.txt name -> pins.env key. An SDK newer than its plugin is a bug waiting to happen.
SDK_PINS = {
    "pulumi": "PULUMI_VERSION",
    "pulumi-kubernetes": "PULUMI_KUBERNETES_VERSION",
    "pulumi-vault": "PULUMI_VAULT_VERSION",
    "pulumi-postgresql": "PULUMI_POSTGRESQL_VERSION",
}

# wrapper module -> (required module, pins.env key) that go.mod must carry verbatim.
WRAPPER_REQUIRES = {
    "pulumi": [
        ("github.com/pulumi/pulumi/pkg/v3", "PULUMI_VERSION"),
        ("github.com/pulumi/pulumi/sdk/v3", "PULUMI_VERSION"),
    ],
    "language-python": [("github.com/pulumi/pulumi/sdk/v3", "PULUMI_LANGUAGE_PYTHON_VERSION")],
    "etcd": [("go.etcd.io/etcd/server/v3", "ETCD_VERSION")],
    "kube-apiserver": [("k8s.io/kubernetes", "KUBERNETES_VERSION")],
    "actionlint": [("github.com/rhysd/actionlint", "ACTIONLINT_VERSION")],
    "kube-score": [("github.com/zegl/kube-score", "KUBE_SCORE_VERSION")],
}

PROVIDERS = {
    "kubernetes": "PULUMI_KUBERNETES_VERSION",
    "vault": "PULUMI_VAULT_VERSION",
    "postgresql": "PULUMI_POSTGRESQL_VERSION",
}


# --- pins (no binaries needed) ------------------------------------------------------------------


@pytest.mark.parametrize(("package", "key"), sorted(SDK_PINS.items()))
def test_sdk_pin_equals_plugin_pin(pins: dict[str, str], package: str, key: str) -> None:
    requirements = read_requirement_pins(REPO / "requirements.txt")
    assert package in requirements, f"requirements.txt does not pin {package}"
    assert requirements[package] == pins[key], (
        f"requirements.txt pins {package}=={requirements[package]} but toolchain/pins.env has "
        f"{key}={pins[key]}: SDK and plugin must be the same version"
    )


def test_language_host_version_is_the_engine_version(pins: dict[str, str]) -> None:
    assert pins["PULUMI_LANGUAGE_PYTHON_VERSION"] == pins["PULUMI_VERSION"]


@pytest.mark.parametrize("wrapper", sorted(WRAPPER_REQUIRES))
def test_wrapper_go_mod_requires_the_pinned_version(pins: dict[str, str], wrapper: str) -> None:
    go_mod = (TOOLCHAIN / "modules" / wrapper / "go.mod").read_text()
    for module, key in WRAPPER_REQUIRES[wrapper]:
        line = re.search(rf"^\s*{re.escape(module)} (v\S+)", go_mod, re.MULTILINE)
        assert line, f"modules/{wrapper}/go.mod does not require {module}"
        assert line.group(1) == f"v{pins[key]}", f"modules/{wrapper}/go.mod: {module} {line.group(1)}"


def _local_replaces(go_mod: Path) -> list[tuple[str, str]]:
    """(module, path) of each `replace MODULE => ./path` of a go.mod (block or single-line form)."""
    found = []
    for raw in go_mod.read_text().splitlines():
        line = raw.split("//", 1)[0].strip().removeprefix("replace").strip()
        if "=>" not in line:
            continue
        left, right = (part.split() for part in line.split("=>", 1))
        if len(right) == 1:
            found.append((left[0], right[0]))
    return found


def test_local_replaces_point_only_into_locked_upstream_trees() -> None:
    """Hermetic means published modules, or a pinned upstream tree: a local replace may only point
    into a tree of toolchain/upstream.lock (linked as ./upstream, or copied and patched as ./patched)."""
    locked = {line.split()[0] for line in (TOOLCHAIN / "upstream.lock").read_text().splitlines()
              if line.strip() and not line.startswith("#")}  # fmt: skip
    src = Path(subprocess.run(["bash", str(TOOLCHAIN / "upstream.sh"), "dir"], capture_output=True, text=True,
                              check=True).stdout.strip())  # fmt: skip
    for go_mod in (TOOLCHAIN / "modules").glob("*/go.mod"):
        for module, path in _local_replaces(go_mod):
            parts = Path(path).parts
            assert parts[0] in ("upstream", "patched"), f"{go_mod}: {module} => {path} is outside the trees"
            assert parts[1] in locked, f"{go_mod}: {module} => {path}: '{parts[1]}' is not in upstream.lock"
            assert (src.joinpath(*parts[1:])).is_dir(), f"{go_mod}: {module} => {path} does not exist in {src}"


# wrapper -> (module replaced into a tree, tree name template over pins.env)
UPSTREAM_BUILT = {
    "provider-kubernetes": (
        "github.com/pulumi/pulumi-kubernetes/provider/v4", "pulumi-kubernetes-v{PULUMI_KUBERNETES_VERSION}"
    ),
    "provider-vault": ("github.com/pulumi/pulumi-vault/provider/v7", "pulumi-vault-v{PULUMI_VAULT_VERSION}"),
    "provider-postgresql": (
        "github.com/pulumi/pulumi-postgresql/provider/v3", "pulumi-postgresql-v{PULUMI_POSTGRESQL_VERSION}"
    ),
    "language-python": (
        "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3",
        "pulumi-language-python-v{PULUMI_LANGUAGE_PYTHON_VERSION}",
    ),
    "external-secrets": (
        "github.com/external-secrets/external-secrets", "external-secrets-v{EXTERNAL_SECRETS_VERSION}"
    ),
    "reloader": ("github.com/stakater/Reloader", "reloader-v{RELOADER_VERSION}"),
}  # fmt: skip


@pytest.mark.parametrize("wrapper", sorted(UPSTREAM_BUILT))
def test_upstream_built_wrappers_read_the_tree_of_the_pinned_version(pins: dict[str, str], wrapper: str) -> None:
    module, template = UPSTREAM_BUILT[wrapper]
    replaces = dict(_local_replaces(TOOLCHAIN / "modules" / wrapper / "go.mod"))
    assert module in replaces, f"modules/{wrapper}/go.mod does not replace {module}"
    assert Path(replaces[module]).parts[1] == template.format(**pins), replaces[module]


# --- built binaries -----------------------------------------------------------------------------


def test_pulumi_version_is_pinned(toolchain_bin: Path, pins: dict[str, str]) -> None:
    out = subprocess.run(
        [toolchain_bin / "pulumi", "version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == f"v{pins['PULUMI_VERSION']}"


def test_language_host_sits_with_its_exec_script(toolchain_bin: Path) -> None:
    assert (toolchain_bin / "pulumi-language-python").is_file()
    script = toolchain_bin / "pulumi-language-python-exec"
    assert script.is_file()
    assert "pulumi.runtime.run_in_stack" in script.read_text()


def test_plugins_seen_by_the_engine_are_the_pinned_ones(
    tiny_program: Path, run_pulumi: Runner, pins: dict[str, str], pulumi_env: dict[str, str]
) -> None:
    """`pulumi about` lists the plugins the engine resolves (PATH and PULUMI_HOME)."""
    install_plugins(pulumi_env)
    run_pulumi("stack", "init", "smoke", "--secrets-provider", "passphrase", cwd=tiny_program)
    about = json.loads(run_pulumi("about", "--json", cwd=tiny_program).stdout)
    assert about["cliAbout"]["version"] == pins["PULUMI_VERSION"]
    plugins = {(p["kind"], p["name"]): p["version"] for p in about["plugins"]}
    assert plugins.get(("language", "python")) == pins["PULUMI_LANGUAGE_PYTHON_VERSION"]
    for name, key in PROVIDERS.items():
        assert plugins.get(("resource", name)) == pins[key], name


def install_plugins(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`build.sh install-plugins DIR` into env's PULUMI_HOME (what `make toolchain` does for the toolchain's
    own Pulumi home)."""
    return subprocess.run(
        ["bash", str(TOOLCHAIN / "build.sh"), "install-plugins", env["PULUMI_HOME"]],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip


@pytest.fixture(scope="session")
def provider_schemas(toolchain_bin: Path, offline_prefix: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Each plugin's schema as the engine reads it: `pulumi package get-schema <name>`, with the plugins
    installed by `build.sh install-plugins` in a PULUMI_HOME of the test's own."""
    home = tmp_path_factory.mktemp("pulumi-home")
    env = {**os.environ, "PATH": f"{toolchain_bin}{os.pathsep}{os.environ.get('PATH', '')}", "PULUMI_HOME": str(home),
           "PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}  # fmt: skip
    install_plugins(env)
    again = install_plugins(env)  # the same bytes are there: nothing to do
    assert "installed in" not in again.stderr, again.stderr
    schemas = {}
    for name in PROVIDERS:
        proc = subprocess.run(
            [*offline_prefix, str(toolchain_bin / "pulumi"), "package", "get-schema", name],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"get-schema {name}: {proc.stderr[-2000:]}"
        schemas[name] = json.loads(proc.stdout)
    return schemas


def test_provider_plugins_are_kept_off_path(toolchain_bin: Path) -> None:
    """On PATH the engine would use them as "ambient" plugins and warn on every run."""
    for name in PROVIDERS:
        assert not (toolchain_bin / f"pulumi-resource-{name}").exists()
        assert (toolchain_bin.parent / "plugins" / f"pulumi-resource-{name}").is_file()


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_provider_serves_its_real_schema_at_the_pin(
    provider_schemas: dict, pins: dict[str, str], provider: str
) -> None:
    schema = provider_schemas[provider]
    assert schema["name"] == provider
    assert schema["version"] == pins[PROVIDERS[provider]]
    # Real schemas, not placeholders (postgresql has 16 resources, vault 156, kubernetes hundreds).
    assert len(schema["resources"]) >= 15, f"{provider}: only {len(schema['resources'])} resources"


def test_kubernetes_schema_has_the_deployment(provider_schemas: dict) -> None:
    deployment = provider_schemas["kubernetes"]["resources"]["kubernetes:apps/v1:Deployment"]
    assert {"metadata", "spec"} <= set(deployment["inputProperties"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_and_input_the_program_sets_exists_in_the_real_schemas(
    provider_schemas: dict, stack: str, request: pytest.FixtureRequest
) -> None:
    """The program, rendered under mocks, only uses types and input properties that the built
    plugins declare: an SDK/plugin mismatch or a misspelt field fails here, not at `up`."""
    rendering = request.getfixturevalue(stack)
    problems = []
    for res in rendering.resources:
        package = res.package
        if res.type.startswith("pulumi:providers:"):
            package = res.type.rsplit(":", 1)[1]
            declared = provider_schemas[package]["provider"]["inputProperties"]
        elif package in provider_schemas:
            spec = provider_schemas[package]["resources"].get(res.type)
            if spec is None and package == "kubernetes" and "apiVersion" in res.inputs:
                continue  # a CustomResource (ESO's kinds): its CRD, not the schema, validates it
            if spec is None:
                problems.append(f"{res.type} ({res.name}): not in the {package} schema")
                continue
            declared = spec.get("inputProperties", {})
        else:
            continue
        # apiVersion/kind are implied by the Kubernetes type token and may be sent by the SDK.
        unknown = set(res.inputs) - set(declared) - {"apiVersion", "kind", "__defaults"}
        if unknown:
            problems.append(f"{res.type} ({res.name}): inputs {sorted(unknown)} not in the schema")
    assert not problems, "\n".join(problems)


def _unknown_fields(schema: dict, spec: dict, value: object, path: str) -> list[str]:
    """Paths under `value` whose keys the schema type `spec` does not declare (objects through $ref, arrays
    through items; free-form maps such as labels, and untyped JSON, are not judged)."""
    ref = spec.get("$ref", "")
    if ref.startswith("#/types/"):
        spec = schema["types"].get(ref.removeprefix("#/types/"), {})
    if isinstance(value, list) and "items" in spec:
        return [p for i, v in enumerate(value) for p in _unknown_fields(schema, spec["items"], v, f"{path}[{i}]")]
    if not isinstance(value, dict) or "properties" not in spec:
        return []
    problems = []
    for key, sub in value.items():
        if key not in spec["properties"]:
            problems.append(f"{path}.{key}")
        else:
            problems += _unknown_fields(schema, spec["properties"][key], sub, f"{path}.{key}")
    return problems


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_nested_kubernetes_field_the_program_sets_exists_in_the_real_schema(
    provider_schemas: dict, stack: str, request: pytest.FixtureRequest
) -> None:
    """Pod security, probes, topology spread, PodDisruptionBudget and NetworkPolicy fields, all the way
    down: a misspelt nested field would otherwise be dropped or refused only by the API server at `up`."""
    schema = provider_schemas["kubernetes"]
    rendering = request.getfixturevalue(stack)
    problems, checked = [], 0
    for res in rendering.resources:
        spec = schema["resources"].get(res.type)
        if res.package != "kubernetes" or spec is None:
            continue  # ESO's kinds are CustomResources: their CRDs validate them
        checked += 1
        for key, value in res.inputs.items():
            if key in spec.get("inputProperties", {}):
                problems += [f"{res.type} ({res.name}): {p}" for p in
                             _unknown_fields(schema, spec["inputProperties"][key], value, key)]  # fmt: skip
    assert checked >= 10
    assert not problems, "\n".join(problems)


def test_offline_preview_of_a_throwaway_stack(tiny_program: Path, run_pulumi: Runner) -> None:
    run_pulumi("stack", "init", "smoke", "--secrets-provider", "passphrase", cwd=tiny_program)
    run_pulumi("config", "set", "greeting", "hello", cwd=tiny_program)
    run_pulumi("config", "set", "--secret", "token", "obviously-fake-token", cwd=tiny_program)
    stack_file = (tiny_program / "Pulumi.smoke.yaml").read_text()
    assert "obviously-fake-token" not in stack_file  # encrypted by the passphrase provider

    proc = run_pulumi("preview", "--diff", cwd=tiny_program)
    out = proc.stdout
    assert "keybuzz:smoke:Box" in out
    # The host sits with the engine, so pulumi treats it as bundled, not as an ambient PATH plugin.
    assert "from $PATH" not in out + proc.stderr
    assert re.search(r"greeting\s*:\s*\"hello\"", out), out
    assert "obviously-fake-token" not in out
    assert re.search(r"\+ 2 to create", out), out


def test_a_failing_program_fails_the_preview(tiny_program: Path, run_pulumi: Runner) -> None:
    """The host reports the program's error; it does not pass a broken program."""
    (tiny_program / "__main__.py").write_text("raise RuntimeError('boom from the program')\n")
    run_pulumi("stack", "init", "smoke", "--secrets-provider", "passphrase", cwd=tiny_program)
    proc = run_pulumi("preview", cwd=tiny_program, check=False)
    assert proc.returncode != 0
    assert "boom from the program" in proc.stdout + proc.stderr


@pytest.mark.parametrize("stack", ["dev", "prod", "organization/keybuzz/prod"])
def test_wrapper_refuses_the_estate_stacks(
    toolchain_bin: Path, pulumi_env: dict[str, str], tmp_path: Path, stack: str
) -> None:
    proc = subprocess.run(
        ["bash", str(TOOLCHAIN / "pulumi.sh"), "preview", "--stack", stack],
        cwd=tmp_path,
        env=pulumi_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "refusing to run on stack" in proc.stderr


def test_lab_binaries_tell_their_pinned_versions(toolchain_bin: Path, pins: dict[str, str]) -> None:
    etcd = subprocess.run([toolchain_bin / "etcd", "--version"], capture_output=True, text=True, check=True).stdout
    assert f"etcd Version: {pins['ETCD_VERSION']}" in etcd
    kube = subprocess.run(
        [toolchain_bin / "kube-apiserver", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert kube == f"Kubernetes v{pins['KUBERNETES_VERSION']}"
    kcm = subprocess.run(
        [toolchain_bin / "kube-controller-manager", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert kcm == f"Kubernetes v{pins['KUBERNETES_VERSION']}"


def test_actionlint_tells_its_pinned_version(toolchain_bin: Path, pins: dict[str, str]) -> None:
    out = subprocess.run([toolchain_bin / "actionlint", "-version"], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == f"v{pins['ACTIONLINT_VERSION']}"


def test_kube_score_tells_its_pinned_version(toolchain_bin: Path, pins: dict[str, str]) -> None:
    out = subprocess.run([toolchain_bin / "kube-score", "version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith(f"kube-score version: {pins['KUBE_SCORE_VERSION']},")


def test_external_secrets_crds_serve_v1(toolchain_bin: Path) -> None:
    crds = toolchain_bin.parent / "crds" / "external-secrets"
    crd = yaml.safe_load((crds / "external-secrets.io_externalsecrets.yaml").read_text())
    assert crd["metadata"]["name"] == "externalsecrets.external-secrets.io"
    served = {v["name"] for v in crd["spec"]["versions"] if v["served"]}
    assert "v1" in served
    assert (crds / "generators.external-secrets.io_vaultdynamicsecrets.yaml").is_file()


def test_warm_make_toolchain_is_a_quick_no_op() -> None:
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(TOOLCHAIN / "build.sh"), "build"], capture_output=True, text=True, check=True)
    elapsed = time.monotonic() - t0
    assert "building" not in proc.stderr, proc.stderr
    assert elapsed < 10, f"warm run took {elapsed:.1f} s"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_lab_api_serves_the_external_secrets_crds(toolchain_bin: Path, tmp_path: Path) -> None:
    """etcd + kube-apiserver from the toolchain come up on loopback and serve ESO's v1 API."""
    client, peer, api = _free_port(), _free_port(), _free_port()
    key = tmp_path / "sa.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    (tmp_path / "tokens.csv").write_text(f"{FAKE_TOKEN},admin,admin,system:masters\n")
    etcd_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    logs = [open(tmp_path / "etcd.log", "w"), open(tmp_path / "apiserver.log", "w")]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [toolchain_bin / "etcd", "--data-dir", str(tmp_path / "etcd"),
             "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", f"default={peer_url}"],
            stdout=logs[0], stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    try:
        procs.append(
            subprocess.Popen(
                [toolchain_bin / "kube-apiserver", "--etcd-servers", etcd_url,
                 "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
                 "--secure-port", str(api), "--cert-dir", str(tmp_path / "certs"),
                 "--service-account-issuer", f"https://127.0.0.1:{api}",
                 "--service-account-key-file", str(key), "--service-account-signing-key-file", str(key),
                 "--token-auth-file", str(tmp_path / "tokens.csv"), "--authorization-mode", "RBAC",
                 "--service-cluster-ip-range", "10.96.0.0/24"],
                stdout=logs[1], stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        base = f"https://127.0.0.1:{api}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _api(base, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("kube-apiserver not ready in 60 s:\n" + (tmp_path / "apiserver.log").read_text()[-3000:])

        assert json.loads(_api(base, "GET", "/version")[1])["gitVersion"].startswith("v1.")
        crds = toolchain_bin.parent / "crds" / "external-secrets"
        crd = yaml.safe_load((crds / "external-secrets.io_externalsecrets.yaml").read_text())
        status, _ = _api(base, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        assert status == 201
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, body = _api(base, "GET", "/apis/external-secrets.io/v1")
            if status == 200 and b"ExternalSecret" in body:
                break
            time.sleep(0.5)
        else:
            pytest.fail("external-secrets.io/v1 is not served after creating the CRD")
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


FAKE_TOKEN = "fake-lab-token-for-tests"


def _api(base: str, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    """One request to the loopback API server with the test token (its cert is self-signed)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {FAKE_TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
