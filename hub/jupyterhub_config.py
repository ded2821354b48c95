"""JupyterHub for a class of this course on one machine: every student an OS user with a server of their own, the
notebooks and the feedback passed through nbgrader's exchange, grading done by the instructor with the grader.

Start it as root, from the repository root, after `make hub` (configurable-http-proxy, from the npm registry):

    .venv/bin/jupyterhub -f hub/jupyterhub_config.py

Students log in at http://HOST:8000 with their system account (PAM), get JupyterLab with nbgrader's Assignment List
(Nbgrader > Assignment List: fetch, Validate, submit, fetch feedback), and never see solutions/ or grader/: their
server runs as them, in their home. The instructor, with `export JUPYTER_CONFIG_PATH=$PWD/hub/everyone`, releases
with `nbgrader release_assignment 01_lookup` from the repository root, then in a class workspace collects with
`nbgrader collect 01_lookup`, grades with `python -m grader autograde --root .` and returns the pages with
`nbgrader release_feedback 01_lookup` (README, "On a JupyterHub"). tests/test_hub.py runs exactly that, with
separate OS users and a browser. Put HTTPS in front (a reverse proxy, or c.JupyterHub.ssl_key / ssl_cert) for a
real class.
"""

import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- injected by traitlets when JupyterHub loads this file

HUB = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent   # the environment the hub runs in is every student's too (requirements.txt)

c.JupyterHub.bind_url = "http://:8000"
c.ConfigurableHTTPProxy.command = [str(HUB / "node_modules" / ".bin" / "configurable-http-proxy")]
c.JupyterHub.authenticator_class = "pam"          # the machine's accounts; c.Authenticator.allowed_users limits them
c.JupyterHub.spawner_class = "localprocess"       # each student's server as their own OS user, in their home
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"JUPYTER_CONFIG_PATH": str(HUB / "everyone")}   # the course id and the exchange
