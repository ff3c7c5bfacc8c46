"""The lab's server configuration, rendered to files: Patroni per node (PostgreSQL with TLS), HAProxy, OpenBao."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path
from typing import Any

import yaml

from components.environments import environments
from lab import config as cfg
from lab.base import LabBase
from lab.config import HOST, NODES, Secrets
from lab.tls import ensure_certificates


def estate_logins() -> list[str]:
    """The estate's legacy logins: every ``<app>LegacyRoles`` of the shipped stack files (the roles
    lab/estate.py creates as the estate has them), sorted."""
    logins: set[str] = set()
    for env in environments():
        config = yaml.safe_load((cfg.repo_root() / f"Pulumi.{env}.yaml").read_text())["config"]
        for key, value in config.items():
            if key.endswith("LegacyRoles"):
                logins.update(value or [])
    return sorted(logins)


class ConfigFiles(LabBase):
    """The configuration files the lab's servers read: one Patroni YAML per node, HAProxy's config and
    OpenBao's (with its unseal key), written under the state directory before anything starts."""

    def _patroni_config(self, node: str, secrets: Secrets, pg_bin: str) -> dict[str, Any]:
        node_dir = self.layout.node_dir(node)
        cert, key = self.layout.node_tls(node)
        # First match wins. Behind a TCP-passthrough LB the server cannot tell the LB's connections from any
        # other, so what pg_hba can single out is who logs in:
        # - the superuser (Patroni's own connections, the lab's probes, writer and seeding) and replication:
        #   lab plumbing, TLS or not;
        # - the estate's legacy logins, as the estate runs them today: their hand-written Secrets name no
        #   sslmode, so a Node app (node-postgres: no PGSSLMODE, no TLS) logs in in clear, and the estate
        #   evidently accepts that (its api runs);
        # - everyone else, i.e. what the program creates (Vault's login role and dynamic users, the apps'
        #   roles) and the lab's state backend: TLS only. That makes "the program's app path is encrypted"
        #   something the lab checks rather than assumes: a client that would send such a password in
        #   clear is refused (`hostnossl ... reject`: "no encryption").
        hba = [
            "local all all scram-sha-256",
            f"host replication {cfg.REPLICATION_USER} {HOST}/32 scram-sha-256",
            f"host all {cfg.SUPERUSER} {HOST}/32 scram-sha-256",
            *([f"host all {','.join(estate_logins())} {HOST}/32 scram-sha-256"] if estate_logins() else []),
            f"hostssl all all {HOST}/32 scram-sha-256",
            f"hostnossl all all {HOST}/32 reject",
        ]
        return {
            "scope": cfg.SCOPE,
            "namespace": "/service/",
            "name": node,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"{HOST}:{self.ports.rest(node)}",
                "connect_address": f"{HOST}:{self.ports.rest(node)}",
            },
            "etcd3": {"hosts": [f"{HOST}:{self.ports.etcd_client}"], "protocol": "http"},
            "bootstrap": {
                "dcs": {
                    "ttl": cfg.PATRONI_TTL,
                    "loop_wait": cfg.PATRONI_LOOP_WAIT,
                    "retry_timeout": cfg.PATRONI_RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1048576,
                    # A commit is acknowledged only once a standby has flushed it, and Patroni only
                    # promotes that standby: no acknowledged commit can be lost when a leader dies.
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "wal_log_hints": "on",
                            "max_connections": 100,
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_keep_size": "128MB",
                            "password_encryption": "scram-sha-256",
                            # A replica that asks for its slot before the leader has created it (every
                            # bring-up, every failover) retries after this, not the default 5 s.
                            "wal_retrieve_retry_interval": "500ms",
                        },
                    },
                },
                # no-sync: a lab cluster is disposable, and initdb's fsync of every file is ~1 s here.
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums", "no-sync"],
            },
            "postgresql": {
                "listen": f"{HOST}:{self.ports.pg(node)}",
                "connect_address": f"{HOST}:{self.ports.pg(node)}",
                "data_dir": str(self.layout.node_data(node)),
                "bin_dir": pg_bin,
                "pgpass": str(node_dir / "pgpass"),
                "authentication": {
                    "superuser": {"username": cfg.SUPERUSER, "password": secrets.superuser_password},
                    "replication": {"username": cfg.REPLICATION_USER, "password": secrets.replication_password},
                },
                "parameters": {
                    # The Debian default socket directory belongs to the packaged cluster: keep ours apart.
                    "unix_socket_directories": str(node_dir),
                    # TLS on every node (lab/tls.py): whichever node leads, the LB's clients meet TLS.
                    "ssl": "on",
                    "ssl_cert_file": str(cert),
                    "ssl_key_file": str(key),
                },
                "pg_hba": hba,
                # Replicas clone the leader without waiting for a spread checkpoint.
                "basebackup": [{"checkpoint": "fast"}],
                # A lab node that cannot rewind after a kill is re-cloned rather than left broken.
                "remove_data_directory_on_rewind_failure": True,
                "remove_data_directory_on_diverged_timelines": True,
            },
            "watchdog": {"mode": "off"},
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }

    def _haproxy_config(self) -> str:
        check = (
            f"inter {cfg.HAPROXY_CHECK_INTER_MS}ms fastinter {cfg.HAPROXY_CHECK_FASTINTER_MS}ms "
            f"downinter {cfg.HAPROXY_CHECK_DOWNINTER_MS}ms fall {cfg.HAPROXY_CHECK_FALL} "
            f"rise {cfg.HAPROXY_CHECK_RISE} on-marked-down shutdown-sessions"
        )

        def servers() -> str:
            return "".join(
                f"    server {n} {HOST}:{self.ports.pg(n)} maxconn 80 check port {self.ports.rest(n)}\n" for n in NODES
            )

        return (
            "# Generated by `python -m lab up`: edit lab/files.py, not this file.\n"
            "global\n"
            "    maxconn 400\n"
            "defaults\n"
            # TCP passthrough: TLS runs end to end between the client and PostgreSQL, as in production.
            "    mode tcp\n"
            "    timeout connect 2s\n"
            "    timeout client 30m\n"
            "    timeout server 30m\n"
            "    timeout check 2s\n"
            f"    retries {cfg.HAPROXY_RETRIES}\n"
            "listen pg_write\n"
            f"    bind {HOST}:{self.ports.lb_write}\n"
            # OPTIONS, not GET: Patroni answers both, GET logs a connection reset per check.
            "    option httpchk OPTIONS /primary\n"
            "    http-check expect status 200\n"
            f"    default-server {check}\n" + servers() + "listen pg_read\n"
            f"    bind {HOST}:{self.ports.lb_read}\n"
            "    balance roundrobin\n"
            "    option httpchk OPTIONS /replica\n"
            "    http-check expect status 200\n"
            f"    default-server {check}\n" + servers() + "listen stats\n"
            "    mode http\n"
            f"    bind {HOST}:{self.ports.haproxy_stats}\n"
            "    stats enable\n"
            "    stats uri /\n"
            "    stats refresh 2s\n"
        )

    def _prepare(self, secrets: Secrets, pg_bin: str) -> None:
        layout = self.layout
        for path in (layout.state_dir, layout.run_dir, layout.log_dir, layout.etcd_dir, layout.state_dir / "bao"):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(layout.etcd_dir, 0o700)
        owner = pwd.getpwnam(cfg.OS_USER) if self.as_root else None
        ensure_certificates(layout)
        for node in NODES:
            node_dir = layout.node_dir(node)
            node_dir.mkdir(exist_ok=True)
            os.chmod(node_dir, 0o700)
            cert, key = layout.node_tls(node)
            cert.write_bytes(layout.server_certificate.read_bytes())
            cfg.write_private(key, layout.server_key.read_bytes())
            if owner:
                for path in (cert, key):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            config_path = layout.node_cfg(node)
            fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:  # JSON is YAML: no YAML library needed
                json.dump(self._patroni_config(node, secrets, pg_bin), handle, indent=2)
            if owner:
                for path in (node_dir, config_path):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
        layout.haproxy_cfg.write_text(self._haproxy_config())
        layout.lab_file.write_text(
            json.dumps({"base_port": self.ports.base, "ports": self.ports.all(), "nodes": list(NODES)}, indent=2)
        )

    def _bao_config(self) -> Path:
        """The OpenBao server config (raft storage, static seal), and its unseal key on first use."""
        bao_dir = self.layout.state_dir / "bao"
        (bao_dir / "data").mkdir(parents=True, exist_ok=True)
        key = bao_dir / "unseal.key"
        if not key.exists():
            cfg.write_private(key, os.urandom(32))
        config = bao_dir / "config.hcl"
        config.write_text(
            f'storage "raft" {{\n  path = "{bao_dir / "data"}"\n  node_id = "lab"\n}}\n'
            f'listener "tcp" {{\n  address = "{HOST}:{self.ports.bao}"\n'
            f'  cluster_address = "{HOST}:{self.ports.bao_cluster}"\n  tls_disable = true\n}}\n'
            f'api_addr = "http://{HOST}:{self.ports.bao}"\ncluster_addr = "http://{HOST}:{self.ports.bao_cluster}"\n'
            f'seal "static" {{\n  current_key_id = "lab-1"\n  current_key = "file://{key}"\n}}\n'
        )
        return config
