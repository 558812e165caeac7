"""Operator CLI: prepare the database, manage users, mint tokens, show the config in force."""

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import users
from core.config import get_settings
from core.db import make_engine, read_transaction, write_transaction
from core.keys import generate_key_pair, load_keyring
from core.migrations import current_revision, upgrade
from core.schemas import Scope, Username
from core.secret import InsecureSecret, load_jwt_secret
from core.security import KNOWN_SCOPES, CannotSign, create_access_token, hash_password


def _password(args: argparse.Namespace) -> str | None:
    if args.no_password:
        return None
    password = args.password or os.environ.get("APP_USER_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            sys.exit("error: no password: give --password, set APP_USER_PASSWORD, or use --no-password")
        try:
            password = getpass.getpass(f"Password for {args.username}: ")
            if getpass.getpass("Again: ") != password:
                sys.exit("error: the passwords differ")
        except (EOFError, KeyboardInterrupt):
            sys.exit("\nerror: no password given")
    if len(password) < 8:
        sys.exit("error: password must be at least 8 characters")
    return password


def cmd_init(args, settings, engine) -> None:
    """Migrate the schema to the newest revision and create the signing secret."""
    cmd_migrate(args, settings, engine)
    load_jwt_secret(settings, create=True)


def cmd_migrate(args, settings, engine) -> None:
    """Migrate the schema to the newest revision."""
    upgrade(engine)
    url = engine.url.render_as_string(hide_password=True)
    print(f"database ready: {url} at revision {current_revision(engine)}")


def _validated(username: str, scopes: str | None) -> tuple[str, list[str] | None]:
    """The same rules as the API: a plain user name (stored in lower case) and known scopes."""
    try:
        name = TypeAdapter(Username).validate_python(username)
        known = TypeAdapter(list[Scope]).validate_python(scopes.split()) if scopes is not None else None
    except ValidationError as exc:
        sys.exit(
            f"error: {exc.errors()[0]['msg']} (user name: letters, digits and _.@-; scopes: {' '.join(KNOWN_SCOPES)})"
        )
    return name, known


def cmd_create_user(args, settings, engine) -> None:
    """Create a user with scopes (or, with --if-missing, leave an existing one as it is)."""
    args.username, scopes = _validated(args.username, args.scopes)
    args.scopes = " ".join(scopes)
    upgrade(engine)
    with read_transaction(engine) as conn:
        existing = users.get_user(conn, args.username)
    if existing and args.if_missing:
        print(f"user {args.username} exists; scopes: {' '.join(existing['scopes'])}")
        return
    password = _password(args)
    hashed = hash_password(password) if password else None
    with write_transaction(engine) as conn:
        try:
            user = users.create_user(conn, args.username, hashed, args.scopes.split())
        except users.UserExists:
            sys.exit(f"error: user {args.username} exists")
    print(f"created user {user['username']} with scopes: {' '.join(user['scopes']) or '(none)'}")


def cmd_update_user(args, settings, engine) -> None:
    """Change a user's scopes or disabled flag."""
    args.username, _ = _validated(args.username, args.scopes)
    changes = {}
    if args.scopes is not None:
        changes["scopes"] = args.scopes.split()
    if args.disable or args.enable:
        changes["disabled"] = args.disable
    with write_transaction(engine) as conn:
        user = users.update_user(conn, args.username, changes) if users.get_user(conn, args.username) else None
    if user is None:
        sys.exit(f"error: no user {args.username}")
    state = "disabled" if user["disabled"] else "active"
    print(f"user {user['username']}: {state}, scopes: {' '.join(user['scopes']) or '(none)'}")


def cmd_token(args, settings, engine) -> None:
    """Print a bearer token for an existing user (no password needed: run on the server's host)."""
    args.username, _ = _validated(args.username, args.scopes)
    with read_transaction(engine) as conn:
        user = users.get_user(conn, args.username)
    if user is None:
        sys.exit(f"error: no user {args.username}; create it with: create-user {args.username}")
    if user["disabled"]:
        sys.exit(f"error: user {args.username} is disabled")
    scopes = args.scopes.split() if args.scopes else user["scopes"]
    try:
        token, _ = create_access_token(settings, load_keyring(settings), user["username"], scopes, args.minutes)
    except CannotSign:
        sys.exit("error: no signing key here (JWT_PRIVATE_KEY_FILE is not set)")
    print(token)


def cmd_gen_keys(args, settings, engine) -> None:
    """Create a key pair for RS256 or EdDSA; the public key goes into JWT_PUBLIC_KEYS_DIR."""
    private_dir = args.private_dir or settings.jwt_public_keys_dir.parent / "jwt_private"
    private, public = generate_key_pair(args.algorithm, args.kid, private_dir, settings.jwt_public_keys_dir)
    print(f"private key (0600): {private}\npublic key:        {public}")
    print(f"sign with:  JWT_ALGORITHM={args.algorithm} JWT_PRIVATE_KEY_FILE={private}")
    print(f"verify on every host with {public.name} in JWT_PUBLIC_KEYS_DIR")


def cmd_show_config(args, settings, engine) -> None:
    """Print the settings in force, without the secret."""
    config = json.loads(settings.model_dump_json(exclude={"jwt_secret"}))
    config["database_url"] = engine.url.render_as_string(hide_password=True)
    config["jwt_secret_source"] = "JWT_SECRET" if settings.jwt_secret else str(settings.jwt_secret_file)
    print(json.dumps(config, indent=2))


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help=cmd_init.__doc__).set_defaults(func=cmd_init)
    sub.add_parser("migrate", help=cmd_migrate.__doc__).set_defaults(func=cmd_migrate)

    create = sub.add_parser("create-user", help=cmd_create_user.__doc__)
    create.add_argument("username")
    create.add_argument("--scopes", default="", help='space-separated, e.g. "items:write aaa:admin"')
    create.add_argument("--password", help="else APP_USER_PASSWORD, else a prompt")
    create.add_argument("--no-password", action="store_true", help="a user that only gets minted tokens")
    create.add_argument("--if-missing", action="store_true", help="succeed quietly if the user exists")
    create.set_defaults(func=cmd_create_user)

    update = sub.add_parser("update-user", help=cmd_update_user.__doc__)
    update.add_argument("username")
    update.add_argument("--scopes", help="replace the scopes (space-separated)")
    flag = update.add_mutually_exclusive_group()
    flag.add_argument("--disable", action="store_true")
    flag.add_argument("--enable", action="store_true")
    update.set_defaults(func=cmd_update_user)

    token = sub.add_parser("token", help=cmd_token.__doc__)
    token.add_argument("username")
    token.add_argument("--scopes", help="a subset of the user's scopes (default: all)")
    token.add_argument("--minutes", type=int, help="lifetime (default: ACCESS_TOKEN_EXPIRE_MINUTES)")
    token.set_defaults(func=cmd_token)

    keys = sub.add_parser("gen-keys", help=cmd_gen_keys.__doc__)
    keys.add_argument("--algorithm", choices=["EdDSA", "RS256"], default="EdDSA")
    keys.add_argument("--kid", required=True, help="key id, e.g. 2026-12 (becomes the file name)")
    keys.add_argument("--private-dir", type=Path, help="where the private key goes (default data/jwt_private)")
    keys.set_defaults(func=cmd_gen_keys)

    sub.add_parser("show-config", help=cmd_show_config.__doc__).set_defaults(func=cmd_show_config)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run one command."""
    args = build_parser().parse_args(argv)
    settings = get_settings()
    engine = make_engine(settings)
    try:
        args.func(args, settings, engine)
    except InsecureSecret as exc:
        sys.exit(f"error: {exc}")
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
