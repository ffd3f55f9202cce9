"""nbgrader's settings for a course set up by deploy/setup_course.py: the repository's nbgrader_config.py
(which also keeps the instructor's commands free of warnings). Each course directory's
nbgrader_config.py loads this file, then names its own directory, gradebook, course id and exchange.
"""

import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file
load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "nbgrader_config.py"))  # noqa: F821
