# Puts the offline get-pip stand-in where ansible-test looks for its cached bootstrap script.
from __future__ import annotations

import re
import shutil
from pathlib import Path

import ansible_test


def main() -> None:
    source = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
    found = re.search(r"pip='([0-9.]+)'", source)
    version = found.group(1) if found else "24.2"
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"get_pip_{version.replace('.', '_')}.py"
    shutil.copyfile(Path(__file__).with_name("get_pip_standin.py"), target)
    print(f"ansible-test bootstrap: {target}")


if __name__ == "__main__":
    main()
