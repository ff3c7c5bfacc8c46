"""KeyBuzz platform components: one ComponentResource per concern (type tokens keybuzz:<module>:<Type>)."""
