"""Commands of the service: run, healthcheck, web-password."""

from __future__ import annotations

import argparse
import sys

from daemon import app
from daemon.cli.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from daemon.stopping import StopToken


def cmd_run(_args: argparse.Namespace, application: app.App) -> int:
    # pandas 3 imports pyarrow eagerly whenever it is installed (65 MB resident); the service
    # never writes Parquet (`plexfm export` does, in its own process), so keep it out here:
    # pandas then stores strings as Python objects. Must run before anything imports pandas.
    sys.modules.setdefault("pyarrow", None)  # type: ignore[arg-type]
    from daemon.service.process import run

    stop = StopToken()
    specs = app.service_jobs(application, stop)
    config = application.config
    from daemon.analytics.report import AnalyticsSettings

    return run(specs, application.runner, application.engine, config.web,
                       stop=stop, close=application.close, users=list(config.accounts),
                       window=config.apply_window, secrets=config.secrets(),
                       analytics=AnalyticsSettings.from_config(config))


def cmd_healthcheck(_args: argparse.Namespace, application: app.App) -> int:
    from daemon.service.process import health_function

    specs = app.service_jobs(application, StopToken())
    health = health_function(application.engine, specs, None)()
    if health.ok:
        print("healthy")
        return EXIT_OK
    print("unhealthy: " + "; ".join(health.reasons))
    return EXIT_FAILURE


def web_password() -> int:
    """Print the hash of a password read from the terminal (asked twice) or from stdin."""
    import getpass

    from daemon.web.passwords import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("status page password: ")
        if getpass.getpass("again: ") != password:
            print("plexfm: the passwords differ", file=sys.stderr)
            return EXIT_USAGE
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("plexfm: use at least 8 characters", file=sys.stderr)
        return EXIT_USAGE
    print(hash_password(password))
    print("# paste into config.yaml as web.password (or PLEXFM_WEB_PASSWORD)", file=sys.stderr)
    return EXIT_OK
