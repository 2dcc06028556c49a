"""The viewer's optional login: Streamlit's OIDC ``st.login`` (off by default, for a laptop).

The viewer shows people's listening histories, so a shared deployment should turn it on:
``recsys viewer --require-login`` (or ``RECSYS_VIEWER_REQUIRE_LOGIN=1``) with an ``[auth]``
section in ``.streamlit/secrets.toml`` (``redirect_uri``, ``cookie_secret``, ``client_id``,
``client_secret``, ``server_metadata_url`` of the identity provider). An OIDC login proves
who someone is, not that they may look: ``--allow`` (or ``RECSYS_VIEWER_ALLOW``, comma
separated) names the e-mail addresses or ``@domains`` let in; without it any account the
provider accepts is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

REQUIRE_ENV = "RECSYS_VIEWER_REQUIRE_LOGIN"
ALLOW_ENV = "RECSYS_VIEWER_ALLOW"
AUTH_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


def allow_list(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in (text or "").split(",") if p.strip())


def allowed(email: str | None, allow: Sequence[str]) -> bool:
    """Whether ``email`` is let in by ``allow`` (addresses, or ``@domain``); empty: all."""
    if not allow:
        return True
    if not email:
        return False
    email = email.strip().lower()
    domain = "@" + email.rsplit("@", 1)[-1]
    return any(rule == email or (rule.startswith("@") and rule == domain) for rule in allow)


def auth_problem(secrets: Mapping) -> str | None:
    """What is missing from the ``[auth]`` secrets for ``st.login`` to work, or None."""
    auth = secrets.get("auth") if hasattr(secrets, "get") else None
    if not auth:
        return "no [auth] section in .streamlit/secrets.toml"
    missing = [k for k in AUTH_KEYS if not auth.get(k)]
    # one provider: its keys directly under [auth], or in a named [auth.<provider>] table
    providers = [v for v in auth.values() if hasattr(v, "get")]
    if not any(all(p.get(k) for k in PROVIDER_KEYS) for p in providers) and not all(
        auth.get(k) for k in PROVIDER_KEYS
    ):
        missing += [f"{k} (of a provider)" for k in PROVIDER_KEYS]
    return f"[auth] lacks {', '.join(missing)}" if missing else None


def _secrets() -> Mapping:
    try:
        return {"auth": st.secrets["auth"]} if "auth" in st.secrets else {}
    except Exception:  # noqa: BLE001 - no or unreadable secrets.toml: no [auth]
        return {}


def gate(require: bool, allow: Sequence[str]) -> bool:
    """Draw the login (or the refusal) and say whether the page may be drawn."""
    if not require:
        return True
    problem = auth_problem(_secrets())
    if problem:
        st.error(
            "This viewer requires a login (--require-login or "
            f"{REQUIRE_ENV}), but it is not configured: {problem}. Add an [auth] section "
            "(redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url) to "
            ".streamlit/secrets.toml; see the README, Viewer."
        )
        return False
    if not st.user.is_logged_in:
        st.info("This viewer shows people's listening histories: log in to see it.")
        st.button("Log in", on_click=st.login, key="login")
        return False
    email = st.user.get("email")
    if not allowed(email, allow):
        st.error(f"{email or 'This account'} may not use this viewer (ask for it to be allowed).")
        st.button("Log out", on_click=st.logout, key="logout")
        return False
    st.sidebar.caption(f"Signed in as {st.user.get('name') or email}")
    st.sidebar.button("Log out", on_click=st.logout, key="logout")
    return True
