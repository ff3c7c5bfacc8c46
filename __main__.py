"""KeyBuzz platform: read the stack's validated config, build its environment, export outputs.

Everything else lives in components/. Config problems raise one ConfigError listing each bad key
with its fix, before any resource is registered (a RunError: the engine prints the list, no traceback).
"""

import pulumi

from components.config import read_stack_config
from components.environment import Environment, EnvironmentArgs
from components.plan import plan

config = read_stack_config()
environment = Environment(f"keybuzz-{config.environment}", EnvironmentArgs(plan=plan(config)))

for key, value in environment.outputs.items():
    pulumi.export(key, value)
