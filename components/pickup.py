"""Credential pickup: how a running workload gets the credentials ESO re-issues.

Pods read PG* from their environment once, at start. ESO re-issues database credentials every
``secretRefreshSeconds`` and the old lease dies at the role's TTL, so a pod that is never restarted holds
dead credentials about one TTL after it started. Stakater Reloader closes that gap: it watches the Secrets
an app's Deployment names in `RELOAD_ANNOTATION` and, when one changes, patches the Deployment's pod
template (a rollout), so new pods start with the new credentials.

Pure facts and functions, no Pulumi: the program's `Reloader` component (components/reloader.py) and the
lab (lab/kube.py, which runs the same binary out of cluster) read the *same* arguments from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: Reloader release; equals RELOADER_VERSION of toolchain/pins.env, which the lab builds (tested).
RELOADER_VERSION: Final = "1.4.21"
RELOADER_IMAGE: Final = f"ghcr.io/stakater/reloader:v{RELOADER_VERSION}"
#: Upstream's metrics and health port (hard-coded ":9090" in the image; the lab's build reads
#: RELOADER_HTTP_LISTEN_ADDR instead, toolchain/modules/reloader/patches).
RELOADER_HTTP_PORT: Final = 9090
#: Deployment annotation naming (comma-separated) the Secrets whose change restarts it.
RELOAD_ANNOTATION: Final = "secret.reloader.stakater.com/reload"
#: Pod-template annotation Reloader's `annotations` strategy sets on each reload (a JSON record of
#: the Secret, its hash and when). The program never sets it: Reloader's field manager owns it.
RELOADED_FROM_ANNOTATION: Final = "reloader.stakater.com/last-reloaded-from"
#: Field manager of Reloader's strategic-merge patches (upstream callbacks.PatchDeployment).
RELOADER_FIELD_MANAGER: Final = "Reloader"


def reloader_args(namespaces: Iterable[str]) -> list[str]:
    """Reloader's command-line arguments for one environment, watching exactly `namespaces`.

    - ``--namespaces``: scoped mode: Reloader lists and watches these namespaces only (it needs no
      ClusterRole, and one environment's Reloader never sees the other's Secrets).
    - ``--reload-strategy=annotations``: a reload sets `RELOADED_FROM_ANNOTATION` on the pod template,
      a field the program does not set, so Pulumi's server-side apply neither owns nor reverts it
      (the default ``env-vars`` strategy would add an env var to the program's container).
    - ``--resources-to-ignore=configmaps``: only Secrets carry credentials; no ConfigMap access needed.
    - ``--ignored-workload-types=jobs,cronjobs``: a Secret change must never re-run the migrations Job
      (Reloader recreates Jobs whose Secret changed); Deployments are what hold credentials for long.
    """
    watched = sorted(set(namespaces))
    if not watched:
        raise ValueError("Reloader needs at least one namespace to watch")
    return [
        f"--namespaces={','.join(watched)}",
        "--reload-strategy=annotations",
        "--resources-to-ignore=configmaps",
        "--ignored-workload-types=jobs,cronjobs",
        "--log-level=info",
    ]
