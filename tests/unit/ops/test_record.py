"""The deployment record: the update message round-trips, and history entries number the deployments."""

from __future__ import annotations

import pytest

from ops.errors import OpsError
from ops.record import (
    GitRevision,
    deployments_from_history,
    format_message,
    is_secret_value,
    parse_message,
    rollback_config,
)


def test_the_message_round_trips_and_numbers_follow_time() -> None:
    message = format_message("rollback", GitRevision("abc123", dirty=False), to=2)
    assert parse_message(message) == ("rollback", {"rev": "abc123", "dirty": "0", "to": "2"})
    entries = [  # newest first, as `pulumi stack history` lists them; a refresh is no deployment
        {"kind": "update", "startTime": "2026-01-03", "message": message, "result": "succeeded", "config": {}},
        {"kind": "refresh", "startTime": "2026-01-02", "message": "", "result": "succeeded"},
        {
            "kind": "update",
            "startTime": "2026-01-01",
            "message": "",
            "environment": {"git.head": "f00", "git.dirty": "true"},
        },
    ]
    first, second = deployments_from_history(entries)
    assert (first.number, first.action, first.revision, first.dirty) == (1, "", "f00", True)
    assert (second.number, second.action, second.rolled_back_to) == (2, "rollback", 2)


# A rollback's config: the recorded plain values, the current secrets (ciphertexts copied, never decrypted).
RECORDED = {  # deployment #1 as `pulumi stack history --json` lists it (secrets masked)
    "keybuzz:apiImageTag": {"value": "v1", "secret": False},
    "keybuzz:postgresNodes": {"value": '["10.0.0.120"]', "objectValue": ["10.0.0.120"], "secret": False},
    "keybuzz:vaultToken": {"value": "[secret]", "secret": True},
    "keybuzz:appSecretEnv": {"value": "[secret]", "secret": True},
    "keybuzz:vaultDbPasswordVersion": {"value": "1", "secret": False},
    "keybuzz:mode": {"value": "blue", "secret": False},
}
CURRENT = {  # the checkout's Pulumi.<stack>.yaml now: secrets rotated, a newer tag, a version bumped
    "keybuzz:apiImageTag": "v2",
    "keybuzz:postgresNodes": ["10.0.0.120", "10.0.0.121"],
    "keybuzz:vaultToken": {"secure": "v1:ROTATED-TOKEN-CIPHERTEXT"},
    "keybuzz:appSecretEnv": {"secure": "v1:ROTATED-ENV-CIPHERTEXT"},
    "keybuzz:vaultDbPasswordVersion": 2,
    "keybuzz:newSecret": {"secure": "v1:ADDED-LATER"},
}


def test_a_rollback_restores_the_recorded_plain_values_and_keeps_the_current_secrets() -> None:
    chosen = rollback_config(RECORDED, CURRENT, "lab-dev", 1)
    assert chosen.config == {
        "keybuzz:apiImageTag": "v1",
        "keybuzz:postgresNodes": ["10.0.0.120"],
        "keybuzz:mode": "blue",  # recorded, gone since: back with the older program
        "keybuzz:vaultToken": {"secure": "v1:ROTATED-TOKEN-CIPHERTEXT"},
        "keybuzz:appSecretEnv": {"secure": "v1:ROTATED-ENV-CIPHERTEXT"},
        "keybuzz:vaultDbPasswordVersion": 2,  # follows the password, not the program
    }
    assert chosen.kept_current == ("keybuzz:appSecretEnv", "keybuzz:vaultDbPasswordVersion", "keybuzz:vaultToken")
    assert "keybuzz:newSecret" not in chosen.config  # the older program never read it


def test_a_key_secret_now_keeps_its_current_value_even_if_it_was_recorded_in_clear() -> None:
    recorded = {"keybuzz:kubeconfig": {"value": "apiVersion: v1", "secret": False}}
    current = {"keybuzz:kubeconfig": {"secure": "v1:NOW-SECRET"}}
    assert rollback_config(recorded, current, "lab-dev", 1).config == current
    nested = {"keybuzz:creds": {"user": "app", "password": {"secure": "v1:NESTED"}}}
    assert is_secret_value(nested["keybuzz:creds"])
    assert not is_secret_value(["a", {"b": 1}])
    recorded_nested = {"keybuzz:creds": {"value": "[secret]", "secret": True}}
    assert rollback_config(recorded_nested, nested, "lab-dev", 1).config == nested


def test_a_secret_the_deployment_used_and_the_stack_no_longer_sets_is_refused_not_restored() -> None:
    current = {k: v for k, v in CURRENT.items() if k != "keybuzz:vaultToken"}
    with pytest.raises(OpsError, match=r"deployment #1 of stack 'lab-dev' used secret config keybuzz:vaultToken") as e:
        rollback_config(RECORDED, current, "lab-dev", 1)
    assert "pulumi config set --secret KEY --stack lab-dev" in e.value.fix
