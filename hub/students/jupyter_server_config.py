"""What a student's server on the class's JupyterHub loads besides hub/everyone: nbgrader's student side only.

nbgrader installs its instructor tools for everyone in an environment; a student needs the Assignment List and
Validate, not the Formgrader (which would offer to grade, in their home, a course that is not there) or the Course
List. hub/jupyterhub_config.py puts this folder on every student's JUPYTER_CONFIG_PATH; labconfig/page_config.json
beside it hides the same tools, and Create Assignment's cell toolbar, in JupyterLab. (A convenience, not a
protection: a student's own ~/.jupyter can turn them back on, and they reach nothing but the student's own files.)
"""

c = get_config()  # noqa: F821 -- injected by traitlets when the server loads this file

c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
}
