"""What the class's instructors and TAs read besides hub/everyone: how submissions are collected.

An instructor's shell gets it with
`export JUPYTER_CONFIG_PATH=/path/to/repository/hub/instructors:/path/to/repository/hub/everyone`; their servers on
the hub get it from hub/jupyterhub_config.py (the accounts in its INSTRUCTORS). Students never load it: the class
it names is the grader's (grader/compat/exchange.py), which their environment does not have.
"""

c = get_config()  # noqa: F821 -- injected by traitlets when nbgrader loads this file

# A submission counts for the student who owns it: nbgrader's collect would take bob's folder named for ada as hers.
c.ExchangeFactory.collect = "grader.compat.exchange.CollectOwnSubmissions"
# nbgrader's own autograde would grade without the sandbox and the re-check, in a folder not yet a class workspace
# too (grader/compat/guard.py; the course's nbgrader_config.py does the same at the repository root and in every
# workspace). A name, not the class: nbgrader imports it only when it builds an Autograde.
c.Autograde.exporter_class = "grader.compat.guard.RefuseAutograde"
