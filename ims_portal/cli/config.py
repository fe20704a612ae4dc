"""Where the command finds the portal and its token: the environment (`IMS_PORTAL_URL`,
`IMS_PORTAL_TOKEN`), else a TOML config file (`IMS_PORTAL_CONFIG`, default
`~/.config/ims-portal/config.toml`, with `url` and `token`)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

URL_VAR = "IMS_PORTAL_URL"
TOKEN_VAR = "IMS_PORTAL_TOKEN"  # noqa: S105 (a variable name, not a secret)
CONFIG_VAR = "IMS_PORTAL_CONFIG"


class ConfigError(Exception):
    """The portal or the token is not configured, or the config file cannot be read."""


@dataclass(frozen=True, slots=True)
class Config:
    url: str
    token: str


def default_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ims-portal" / "config.toml"


def load(environ: dict[str, str] | None = None, url: str | None = None) -> Config:
    """The configuration in force: `url` (the --url option), then the environment, then the
    config file."""
    environ = dict(os.environ if environ is None else environ)
    path = Path(environ.get(CONFIG_VAR) or default_path())
    from_file: dict[str, object] = {}
    if path.is_file():
        try:
            from_file = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read {path}: {error}") from error
    found_url = url or environ.get(URL_VAR) or str(from_file.get("url") or "")
    token = environ.get(TOKEN_VAR) or str(from_file.get("token") or "")
    if not found_url:
        raise ConfigError(f"no portal URL: set {URL_VAR} (or `url` in {path})")
    if not token:
        raise ConfigError(
            f"no API token: set {TOKEN_VAR} (or `token` in {path}); make one on the portal's "
            "API tokens page"
        )
    return Config(found_url.rstrip("/"), token)
