"""JupyterHub for the course: learners and the instructor log in with their Unix accounts (PAM) and
each gets JupyterLab running as themself, with nbgrader's Assignments tab (and, for the instructor, the
formgrader). Start it as root from the course's environment: ``jupyterhub -f deploy/jupyterhub_config.py``.

One class, one grader (nbgrader's "Using nbgrader with JupyterHub"): the instructor's own server runs
the formgrader on the course directory that deploy/setup_course.py named in ~/.jupyter/nbgrader_config.py,
so no shared grader service is needed. Settings a course changes: the environment variables below.
"""

import os
import sys

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

COURSE_ID = os.environ.get("NBGRADER_COURSE_ID", "nn-by-hand")  # as given to deploy/setup_course.py
STATE = os.environ.get("JUPYTERHUB_STATE_DIR", "/srv/jupyterhub")  # the hub's database, cookie secret, proxy pid
ENV_BIN = os.path.dirname(sys.executable)  # the course's environment, the same for every account

# Who may log in: members of the groups deploy/setup_course.py fills (a local account's password, via PAM).
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {f"{COURSE_ID}-instructors", f"{COURSE_ID}-learners"}
c.PAMAuthenticator.open_sessions = False  # no systemd-logind session per spawned server

# Listen on localhost only: put a TLS-terminating reverse proxy (nginx, Caddy) in front of it.
c.JupyterHub.bind_url = os.environ.get("JUPYTERHUB_BIND_URL", "http://127.0.0.1:8000")
c.JupyterHub.db_url = f"sqlite:///{STATE}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{STATE}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = f"{STATE}/jupyterhub-proxy.pid"

# Each account's JupyterLab runs as that Unix user (the default local-process spawner), in their home,
# from the course's environment, with nbgrader's server extensions (assignment list, validate; the
# formgrader for the instructor only: setup_course.py switches it off in each learner's configuration).
c.Spawner.cmd = [os.path.join(ENV_BIN, "jupyterhub-singleuser")]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"PATH": os.pathsep.join([ENV_BIN, "/usr/local/bin", "/usr/bin", "/bin"])}
c.Spawner.http_timeout = 120  # JupyterLab and nbgrader take a while to start on a busy machine
c.Spawner.start_timeout = 120
