"""KeyBuzz CrossGuard policy pack: the engine runs this file (`pulumi preview --policy-pack policy`).

Rules live in keybuzz_policy/rules.py and their wiring in keybuzz_policy/pack.py; see docs/policy.md.
"""

from keybuzz_policy.pack import serve

serve()
