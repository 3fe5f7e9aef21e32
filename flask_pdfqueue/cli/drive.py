"""``flask pdfqueue drive-check | drive-login | drive-folder``: set up Google Drive storage.

``drive-check`` answers the first question of everyone who sets this up ("why does
the upload fail?") in one line: it checks the settings, the credentials (a real
token), the folder, and that the account may add files to it; ``--probe`` uploads
and deletes a small PDF, as a job would. Nothing here prints a secret.
"""

from __future__ import annotations

import dataclasses
import webbrowser
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask
from flask.cli import ScriptInfo

from ..config.settings import DRIVE_SCOPES, ConfigError, Settings
from ..errors import JobFailure

PROBE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _fail(message: str) -> NoReturn:
    """The one line that says what is wrong; exit status 1."""
    click.echo(f"{click.get_current_context().info_name}: {message}", err=True)
    raise SystemExit(1)


def _ok(message: str) -> None:
    click.echo(f"ok    {message}")


def _load_app(hint: str = "") -> Flask:
    """The app, loaded here so that a wrong setting is one line, not a traceback."""
    try:
        return click.get_current_context().ensure_object(ScriptInfo).load_app()
    except ConfigError as exc:
        _fail(f"{exc}{hint}")


def _drive_settings(app: Flask, **changes: Any) -> Settings:
    """The app's settings as ``PDFQUEUE_STORAGE=drive`` needs them, checked."""
    settings: Settings = app.extensions["pdfqueue"].settings
    try:
        drive = dataclasses.replace(settings, storage="drive", **changes)
        drive.validate()
    except ConfigError as exc:
        _fail(str(exc))
    return drive


@click.command("drive-check")
@click.option(
    "--probe", is_flag=True, help="Also upload a small PDF as a job would, then delete it."
)
def drive_check_command(probe: bool) -> None:
    """Check the Google Drive settings, credentials and folder; say what is wrong."""
    # Google's client libraries are an extra: imported only by the Drive commands
    from ..storage.drive import FOLDER_MIME, DriveStorage
    from ..storage.drive_auth import MODES_THAT_WORK

    app = _load_app()
    settings = _drive_settings(app)
    if app.extensions["pdfqueue"].settings.storage != "drive":
        click.echo("note  PDFQUEUE_STORAGE is not drive: the workers keep PDFs in a local folder")
    try:
        storage = DriveStorage(settings)
    except ConfigError as exc:
        _fail(str(exc))
    _ok(f"settings: PDFQUEUE_DRIVE_AUTH={settings.drive_auth}, scope {settings.drive_scope}")
    try:
        storage.fetch_token()
        me = storage.execute(
            "ask Google Drive who we are", lambda d: d.about().get(fields="user(emailAddress)")
        )
    except JobFailure as failure:
        _fail(f"{failure.error_code}: {failure.message}")
    who = (me.get("user") or {}).get("emailAddress") or storage.auth.account
    _ok(f"credentials: Google issued a token; Drive sees {who}")

    folder_id = settings.drive_folder_id
    try:
        folder = storage.execute(
            f"read the folder {folder_id}",
            lambda d: d.files().get(
                fileId=folder_id,
                fields="id,name,mimeType,driveId,trashed,capabilities(canAddChildren)",
                supportsAllDrives=True,
            ),
        )
    except JobFailure as failure:
        _fail(f"{failure.error_code}: {failure.message}")
    name = folder.get("name", folder_id)
    if folder.get("mimeType") != FOLDER_MIME:
        _fail(f"PDFQUEUE_DRIVE_FOLDER_ID {folder_id} ({name!r}) is a file, not a folder")
    if folder.get("trashed"):
        _fail(f"the folder {name!r} is in the trash: restore it, or use another")
    if not (folder.get("capabilities") or {}).get("canAddChildren"):
        _fail(
            f"{who} may only look at the folder {name!r}: make it an Editor of the folder "
            "(or a Content manager of the shared drive)"
        )
    where = "a shared drive" if folder.get("driveId") else "My Drive"
    _ok(f"folder: {name!r} ({folder_id}) in {where}; {who} may add files to it")
    if settings.drive_auth == "service_account" and not folder.get("driveId") and not probe:
        _fail(
            f"the folder {name!r} is in My Drive, not in a shared drive: service accounts "
            "made after 15 April 2025 own no files and cannot upload there. Use "
            f"{MODES_THAT_WORK}. (An older service account may still have storage: "
            "`drive-check --probe` tries a real upload.)"
        )
    if probe:
        try:
            stored = storage.save("drive-check", PROBE_PDF, "pdfqueue-drive-check.pdf")
        except JobFailure as failure:
            _fail(f"{failure.error_code}: {failure.message}")
        _ok(f"probe: uploaded and shared a PDF ({stored.google_drive_link})")
        try:
            storage.execute(
                "delete the probe PDF",
                lambda d: d.files().delete(fileId=stored.key, supportsAllDrives=True),
            )
        except JobFailure:
            click.echo(f"note  could not delete the probe PDF {stored.key}: delete it by hand")
    click.echo(
        f"drive-check: OK: {who} can upload into {name!r}; new PDFs are shared: "
        f"{settings.drive_share}"
    )


@click.command("drive-login")
@click.option(
    "--client-secrets",
    "client_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The OAuth client's JSON (Google Cloud console: Clients > Desktop app > download).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("var/drive-user.json"),
    show_default=True,
    help="Where to write the token file (PDFQUEUE_DRIVE_CREDENTIALS).",
)
@click.option("--scope", type=click.Choice(DRIVE_SCOPES), default="drive.file", show_default=True)
@click.option("--port", type=int, default=0, help="Loopback port for Google's redirect (0: any).")
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening it.")
@click.option(
    "--paste",
    is_flag=True,
    help="For a machine without a browser: sign in elsewhere, paste the address it ends on.",
)
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds to wait.")
def drive_login_command(
    client_file: Path,
    out: Path,
    scope: str,
    port: int,
    no_browser: bool,
    paste: bool,
    timeout: float,
) -> None:
    """Sign in with a Google account and save its refresh token (PDFQUEUE_DRIVE_AUTH=oauth_user).

    For personal Google accounts, whose Drive a service account cannot write to.
    """
    from ..storage.drive_auth import SCOPE_URLS
    from ..storage.drive_login import (
        LoginError,
        LoginRequest,
        LoopbackReceiver,
        OAuthClient,
        write_private_json,
    )

    try:
        client = OAuthClient.from_file(client_file)
        receiver = None if paste else LoopbackReceiver(port)
        redirect_uri = receiver.redirect_uri if receiver else f"http://127.0.0.1:{port or 1}/"
        login = LoginRequest(client, SCOPE_URLS[scope], redirect_uri)
        try:
            click.echo("Sign in with the Google account whose Drive gets the PDFs:")
            click.echo(f"\n    {login.url}\n")
            if paste:
                click.echo("After consenting, the browser fails to open a 127.0.0.1 address.")
                redirected = click.prompt("Paste that whole address here")
            else:
                assert receiver is not None
                if not no_browser:
                    webbrowser.open(login.url)
                click.echo(f"Waiting for Google's redirect to {redirect_uri} …")
                redirected = receiver.wait(timeout)
        finally:
            if receiver is not None:
                receiver.close()
        answer = login.exchange(login.code_from(redirected))
        write_private_json(out, login.authorized_user(answer))
    except LoginError as exc:
        click.echo(f"drive-login: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"Saved the refresh token to {out} (mode 0600; keep it secret). Now set:")
    click.echo("    PDFQUEUE_STORAGE=drive PDFQUEUE_DRIVE_AUTH=oauth_user")
    click.echo(f"    PDFQUEUE_DRIVE_CREDENTIALS={out.resolve()}  PDFQUEUE_DRIVE_SCOPE={scope}")
    click.echo("and check it with: flask pdfqueue drive-check")


@click.command("drive-folder")
@click.argument("name")
@click.option("--parent", default=None, help="Folder or shared drive id to create it in.")
def drive_folder_command(name: str, parent: str | None) -> None:
    """Create a folder for the PDFs through this app and print its id.

    With the drive.file scope the app sees only what it created: a folder made in
    Drive's web page stays invisible to it, one made here does not.
    """
    from ..storage.drive import FOLDER_MIME, DriveStorage

    app = _load_app(" (until the folder exists, run drive-folder with PDFQUEUE_STORAGE=local)")
    folder_id = app.extensions["pdfqueue"].settings.drive_folder_id or "none-yet"
    settings = _drive_settings(app, drive_folder_id=folder_id)
    if settings.drive_auth == "service_account" and not parent:
        _fail(
            "a service account owns no files: give --parent, the id of the shared drive "
            "(or of a folder in it) the account is a member of"
        )
    try:
        storage = DriveStorage(settings)
        body: dict[str, Any] = {"name": name, "mimeType": FOLDER_MIME}
        if parent:
            body["parents"] = [parent]
        folder = storage.execute(
            "create the folder",
            lambda d: d.files().create(body=body, fields="id,name", supportsAllDrives=True),
            about="--parent",
        )
    except ConfigError as exc:
        _fail(str(exc))
    except JobFailure as failure:
        _fail(f"{failure.error_code}: {failure.message}")
    click.echo(
        f"created folder {folder.get('name')!r}: set PDFQUEUE_DRIVE_FOLDER_ID={folder['id']}"
    )


COMMANDS = (drive_check_command, drive_login_command, drive_folder_command)
