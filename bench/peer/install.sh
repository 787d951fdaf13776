#!/usr/bin/env bash
# Installs what the PyTorch peer of `gsa4j bench` needs on Debian/Ubuntu: the distribution's
# PyTorch (CPU) and the pthread build of OpenBLAS. Needs root. The peer then runs on /usr/bin/python3.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "install.sh: run as root (apt-get)" >&2; exit 1; fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch libopenblas0-pthread
/usr/bin/python3 -c 'import torch; print("torch", torch.__version__); print(torch.__config__.show())'
