"""``flask pdfqueue db upgrade | downgrade | current | sql``: the SQL schema."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..state import current_pdfqueue

# Alembic (8 MB resident with Mako) is imported by these commands only, inside each one:
# every process of the service loads the CLI, and none but these needs it.


@click.command("upgrade")
@with_appcontext
@click.option("--revision", default="head", show_default=True, help="Migrate up to this one.")
def db_upgrade_command(revision: str) -> None:
    """Create or migrate the SQL tables (safe to run again).

    A database made before migrations existed is recognised and migrated too.
    """
    from ..records.migrations import current, upgrade

    engine = current_pdfqueue().jobs.engine
    upgrade(engine, revision)
    click.echo(f"schema at revision {current(engine)}")


@click.command("downgrade")
@with_appcontext
@click.option("--revision", required=True, help="Migrate down to this one, e.g. 0001.")
def db_downgrade_command(revision: str) -> None:
    """Roll the SQL schema back, for running an older release (0001: before the outbox)."""
    from ..records.migrations import current, downgrade

    engine = current_pdfqueue().jobs.engine
    downgrade(engine, revision)
    click.echo(f"schema at revision {current(engine)}")


@click.command("current")
@with_appcontext
def db_current_command() -> None:
    """Show the revision the database is at."""
    from ..records.migrations import current

    click.echo(current(current_pdfqueue().jobs.engine) or "none (empty, or made before migrations)")


@click.command("sql")
@click.option("--dialect", type=click.Choice(["sqlite", "postgresql", "mysql"]), required=True)
def db_sql_command(dialect: str) -> None:
    """Print the DDL that creates the schema in an empty database (sql/<dialect>.sql)."""
    from ..records.migrations import offline_sql

    click.echo(offline_sql(dialect), nl=False)


db_cli = click.Group(
    "db",
    help="The SQL schema: migrate it, show its revision, print its DDL.",
    commands=[db_upgrade_command, db_downgrade_command, db_current_command, db_sql_command],
)
COMMANDS = (db_cli,)
