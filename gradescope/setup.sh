#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (Ubuntu): it installs
# Python 3.11, bubblewrap (the sandbox learner code runs in) and the pinned requirements
# (requirements.txt, generated from pyproject.toml by `make gradescope`) into a virtual environment.
#
# torch==2.13.0 from PyPI brings CUDA libraries that Gradescope's machines do not use; to install
# the CPU-only build, put PyTorch's CPU wheel index in front of requirements.txt
# (`--index-url <that index>` and `--extra-index-url` for PyPI) before zipping.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${AUTOGRADER_VENV:-/autograder/venv}"
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
if ! apt-get install -y -qq python3.11 python3.11-venv; then
    # an Ubuntu release whose archive has no 3.11: the deadsnakes PPA has it
    apt-get install -y -qq software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update -qq
    apt-get install -y -qq python3.11 python3.11-venv
fi
apt-get install -y -qq bubblewrap \
    || echo "bubblewrap could not be installed: learner code will run in plain processes"

python3.11 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$SOURCE/requirements.txt"

# the worker's op recorder in C++ (about a quarter of a class's grading time); without a compiler
# the Python recorder does the same work, slower
apt-get install -y -qq g++ python3.11-dev \
    || echo "no C++ compiler: the worker will record ops in Python (slower, the same grades)"
PYTHONPATH="$SOURCE" "$VENV/bin/python" -B -m autograder op-recorder build --optional

# fail the build now, not at the first submission
PYTHONPATH="$SOURCE" "$VENV/bin/python" -B -c "import torch, autograder.scoring.grader, autograder.submissions.gradescope"
PYTHONPATH="$SOURCE" "$VENV/bin/python" -B -c "from autograder import sandbox; print('sandbox:', sandbox.choose('auto').note)"
