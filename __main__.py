"""KeyBuzz platform: read the stack's validated config, build its environment, export outputs.

Everything else lives in components/. Config problems raise one ConfigError listing each bad key
with its fix, before any resource is registered; it reaches the engine as a RunError, so `pulumi
preview`/`up` print the problem list itself, not a Python traceback.
"""

import pulumi

from components.config import ConfigError, read_stack_config
from components.environment import Environment, EnvironmentArgs

try:
    config = read_stack_config()
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None
environment = Environment(f"keybuzz-{config.environment}", EnvironmentArgs(config=config))

for key, value in environment.outputs.items():
    pulumi.export(key, value)
