"""`minqing users`: add, list and disable accounts, and issue or revoke their API tokens."""
from __future__ import annotations

from datetime import timedelta

import click

from data import api_tokens, users


def _engine():
    from mapserver.cli import _engine as engine

    return engine()


def _run(action):
    """One transaction; an account error is a message and exit status 1, not a traceback."""
    try:
        with _engine().begin() as conn:
            return action(conn)
    except users.AccountError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("users")
def users_group() -> None:
    """Accounts that log in to the pages (password) or call the API (bearer token)."""


@users_group.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(list(users.USER_ROLES)),
              help="admin, commander, analyst, grid_leader, grid_worker, department (handler) or citizen.")
@click.option("--scope", "scope", multiple=True, metavar="GRID_CODE",
              help="A grid code whose whole subtree the user sees; repeat for several. Admins need none.")
@click.option("--department", "department_id", type=int, help="Department id, for role department.")
@click.option("--name", "display_name", help="Display name (default: the username).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help=f"At least {users.MIN_PASSWORD} characters; prompted for when not given.")
def add_command(username, role, scope, department_id, display_name, password) -> None:
    """Add an account with a role and a scope."""
    account = _run(lambda conn: users.add(conn, username, role, tuple(scope), password, display_name, department_id))
    click.echo(f"added {account.username} ({account.role}; scope {', '.join(account.scope) or 'everything'})")


@users_group.command("list")
def list_command() -> None:
    """Every account: role, scope, whether it can log in."""
    for a in _run(users.listing):
        state = "disabled" if a.disabled else ("active" if a.has_password else "no password")
        click.echo(f"{a.username:<24} {a.role:<12} {state:<12} {', '.join(a.scope) or '-'}")


@users_group.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
def disable_command(username, enable) -> None:
    """Stop an account logging in; its sessions end and its tokens are revoked at once."""
    _run(lambda conn: users.set_disabled(conn, username, not enable))
    click.echo(f"{username} {'enabled' if enable else 'disabled; its tokens are revoked'}")


@users_group.command("password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def password_command(username, password) -> None:
    """Set an account's password."""
    _run(lambda conn: users.set_password(conn, username, password))
    click.echo(f"password of {username} changed")


@users_group.command("token")
@click.argument("username", required=False)
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, api_tokens.MAX_TTL.days),
              help="Days until the token expires.")
@click.option("--label", default="", help="What the token is for (a phone, a script).")
@click.option("--list", "show", is_flag=True, help="List tokens (of USERNAME, or everyone's) instead.")
@click.option("--revoke", type=int, metavar="TOKEN_ID", help="Revoke the token with this id instead.")
def token_command(username, days, label, show, revoke) -> None:
    """Issue a bearer token for USERNAME (printed once; only its hash is kept), list or revoke tokens.

    Use it as `Authorization: Bearer <token>`.
    """
    if revoke is not None:
        _run(lambda conn: api_tokens.revoke(conn, revoke))
        click.echo(f"token {revoke} revoked")
    elif show:
        for t in _run(lambda conn: api_tokens.listing(conn, username)):
            state = "revoked" if t.revoked_at else f"expires {t.expires_at:%Y-%m-%d}"
            used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
            click.echo(f"{t.id:>5} {t.username:<24} {state:<20} {used:<28} {t.label}")
    elif username:
        click.echo(_run(lambda conn: api_tokens.issue(conn, username, timedelta(days=days), label)))
    else:
        raise click.UsageError("name a USERNAME to issue a token for, or use --list / --revoke")
