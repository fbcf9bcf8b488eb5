"""The requests session for X: bearer token, OAuth 1.0a, or the offline replay transport."""

from __future__ import annotations

import requests

from mention_monitor.services import USER_AGENT, SecretReader
from mention_monitor.xsource import BearerAuth


def make_session(
    api_base: str,
    *,
    auth: str,
    secrets: SecretReader,
    replay_dir: str | None = None,
) -> requests.Session:
    """A session for X's API at ``api_base``; with ``replay_dir``, recorded pages answer."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    if replay_dir is not None:
        from mention_monitor.replay import ReplayAdapter

        session.mount(api_base.rstrip("/") + "/", ReplayAdapter(replay_dir))
        return session
    if auth == "oauth1":
        from requests_oauthlib import OAuth1

        session.auth = OAuth1(
            secrets.get("x_consumer_key"),
            client_secret=secrets.get("x_consumer_secret"),
            resource_owner_key=secrets.get("x_access_token"),
            resource_owner_secret=secrets.get("x_access_token_secret"),
        )
    else:
        session.auth = BearerAuth(secrets.get("x_bearer_token"))
    return session
