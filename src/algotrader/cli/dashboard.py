"""``algotrader dashboard``: the web dashboard over the configured database."""

from __future__ import annotations

import typer

from algotrader.cli._common import console, settings_from


def dashboard(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (a non-local "
                             "address needs --token)."),
    port: int = typer.Option(8050, "--port", help="Port to listen on (0: any free port)."),
    token: str | None = typer.Option(
        None, "--token", envvar="ALGOTRADER_DASHBOARD_TOKEN", show_envvar=True,
        help="Require this token on every request (Authorization: Bearer, or ?token= once).",
    ),
) -> None:
    """Serve the read-only web dashboard: runs, reports, stored data, orders, JSON API.

    Example: algotrader dashboard --port 8050, then open http://127.0.0.1:8050
    """
    from algotrader.dashboard._deps import require_dashboard_extra

    require_dashboard_extra()
    from algotrader.dashboard import check_bind, serve

    check_bind(host, token)
    settings = settings_from(ctx)

    def ready(url: str) -> None:
        console.print(f"Dashboard at {url} (read-only; Ctrl-C to stop)", highlight=False)

    serve(settings, host, port, token, on_ready=ready)


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)
