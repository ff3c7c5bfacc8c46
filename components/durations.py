"""Durations as Kubernetes controllers write them: Go's `time.Duration` text (``20m0s``, ``1h0m0s``).

ESO objects carry them: every ExternalSecret's ``refreshInterval`` (components/external_secrets.py, and the
migrations' own credentials in components/app.py).
"""

from __future__ import annotations


def go_duration(seconds: int) -> str:
    """Seconds as the canonical Go duration string Kubernetes controllers write back (1200 -> 20m0s).

    ESO re-serialises `refreshInterval` in this form; writing it the same way avoids a perpetual diff.
    """
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
