"""Entry point: ``streamlit run streamlit_app/app.py -- --warehouse DIR`` (or RECSYS_WAREHOUSE),
with ``--require-login [--allow a@x.org,@y.org]`` behind Streamlit's OIDC login.

``recsys viewer --warehouse DIR`` runs this from any directory.
"""

import sys
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="recsys viewer", page_icon="🎵", layout="wide")

# Streamlit runs this file as a script: make the repository (recsys and streamlit_app)
# importable whatever the working directory.
REPO = str(Path(__file__).resolve().parents[1])
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from streamlit_app import views  # noqa: E402

options = views.options_from_args(sys.argv[1:])
views.main(options["warehouse"], require_login=options["require_login"], allow=options["allow"])
