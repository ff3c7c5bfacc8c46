"""The state every part of the lab shares: directory layout, ports, recorded processes, secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lab import config as cfg
from lab.config import HOST, Layout, Ports, Secrets
from lab.http import Vault
from lab.kube import KubeApi
from lab.procs import LabError, ProcRecord, ProcTable


class LabBase:
    """One lab: a state directory and a base port. What every part of `lab.cluster.Lab` reads: its layout,
    ports, process table, Kubernetes API, secrets and connection settings."""

    def __init__(self, state_dir: str | Path | None = None, base_port: int | None = None) -> None:
        self.layout = Layout(Path(state_dir or cfg.default_state_dir()).resolve())
        stored = self._stored()
        if base_port is not None and stored and stored["base_port"] != base_port and self.running():
            raise LabError(
                f"the lab in {self.layout.state_dir} runs on base port {stored['base_port']}, "
                f"not {base_port}: stop it first (`python -m lab down`)"
            )
        self.ports = Ports(base_port or (stored["base_port"] if stored else cfg.default_base_port()))
        self.procs = ProcTable(self.layout.run_dir)
        self.kube = KubeApi(self.layout, self.ports)
        self.as_root = os.geteuid() == 0

    def _stored(self) -> dict[str, Any] | None:
        path = self.layout.lab_file
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def secrets(self) -> Secrets:
        return cfg.read_secrets(self.layout)

    @property
    def ca_certificate(self) -> Path:
        """The lab CA (lab/tls.py) that signed every node's PostgreSQL server certificate."""
        return self.layout.ca_certificate

    def running(self) -> list[ProcRecord]:
        return [r for r in ProcTable(self.layout.run_dir).all() if r.alive()]

    def conninfo(
        self, port: int | None = None, dbname: str = "postgres", user: str | None = None, password: str | None = None
    ) -> dict[str, Any]:
        """psycopg keyword arguments for the superuser (default) or the given user, via the LB write port."""
        return {
            "host": HOST,
            "port": port or self.ports.lb_write,
            "dbname": dbname,
            "user": user or cfg.SUPERUSER,
            "password": password if password is not None else self.secrets.superuser_password,
        }

    def vault(self) -> Vault:
        return Vault(self.ports.bao, self.secrets.bao_root_token)
