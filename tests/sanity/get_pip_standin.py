# Offline stand-in for pip's get-pip.py, which ansible-test's bootstrap downloads from a host
# this machine cannot reach. It does what get-pip.py does with the same arguments: install pip
# into the running interpreter, then the requested packages (see docs/development.md).
from __future__ import annotations

import subprocess
import sys

IGNORED = {"--no-setuptools", "--no-wheel"}


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg not in IGNORED]
    if args and args[0] == "install":
        args = args[1:]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)


if __name__ == "__main__":
    main()
