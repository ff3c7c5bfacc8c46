"""KeyBuzz operations on Pulumi stacks through the Automation API: up, history, rollback, drift, preview.

`python -m ops --help` lists the commands; docs/operations.md explains them. Every command refuses the
estate's stacks (`dev`, `prod`) unless `--estate` or `KEYBUZZ_ESTATE_ACCESS=yes` says this machine may
reach the estate, and every command that runs the engine runs the policy pack with the stack's config
(ops/policy.py). A rollback keeps the current secrets (ops/record.py `rollback_config`).
"""
