"""Billing that runs itself, hung on the push engine's ``on_run_finished`` hook: after every run, the tenant's
notifications (failed or blocked rows, rows waiting for approval, a broken connection) and service-desk tickets.

    install()      # once per process (the web app; the console script names the hook: seatsync.push.hook_names)
"""

from seatsync.automation.hooks import install, run_finished, waiting_event

__all__ = ["install", "run_finished", "waiting_event"]
