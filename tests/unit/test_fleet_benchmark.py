"""benchmarks/fleet.py's measurement of one run: where its time and memory went per task, and its timeout."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fleet  # noqa: E402  pylint: disable=wrong-import-position,import-error

PLAY = """
import time
print("PLAY [Rotate API keys] ****", flush=True)
print("TASK [apikeys.rotation.rotate : Rotate the keys that are due] ****", flush=True)
time.sleep(0.4)
print("TASK [apikeys.rotation.rotate : Report the key's rotation] ****", flush=True)
time.sleep(0.2)
print("RUNNING HANDLER [apikeys.rotation.rotate : rotated] ****", flush=True)
print("PLAY RECAP ****", flush=True)
"""


def test_banner_names() -> None:
    assert fleet.banner_name("TASK [apikeys.rotation.rotate : Report the key's rotation] ****") == \
        "apikeys.rotation.rotate : Report the key's rotation"
    assert fleet.banner_name("RUNNING HANDLER [x : rotated] **") == "handler: x : rotated"
    assert fleet.banner_name("PLAY RECAP *****") == "PLAY RECAP"


def test_each_task_gets_the_time_from_its_banner_to_the_next_and_its_peak_memory() -> None:
    run = fleet.Run([sys.executable, "-c", PLAY], {}, timeout=30)()
    timeline = run.timeline()
    assert [name for name, _s, _m in timeline] == [
        "start-up, inventory, play", "apikeys.rotation.rotate : Rotate the keys that are due",
        "apikeys.rotation.rotate : Report the key's rotation", "handler: apikeys.rotation.rotate : rotated", "recap and exit"]
    seconds = dict((name, s) for name, s, _m in timeline)
    assert 0.35 <= seconds["apikeys.rotation.rotate : Rotate the keys that are due"] < 5
    assert 0.15 <= seconds["apikeys.rotation.rotate : Report the key's rotation"] < 5
    assert abs(sum(seconds.values()) - run.wall) < 1e-6
    assert run.peak_pss > 0 and max(m for _n, _s, m in timeline) <= run.peak_pss
    assert "PLAY RECAP ****" in run.output


def test_a_run_that_outlives_its_timeout_is_killed_with_its_children() -> None:
    with pytest.raises(SystemExit, match="timed out after 1 s"):
        fleet.Run([sys.executable, "-c", "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"],
                  {}, timeout=1)()


def test_the_cpu_of_the_servers_the_run_talks_to_is_counted_beside_its_own() -> None:
    import subprocess
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"])
    idle = subprocess.Popen(["sleep", "30"])
    try:
        run = fleet.Run([sys.executable, "-c", "import time; time.sleep(0.6)"], {}, timeout=30,
                        servers={"busy server": busy.pid, "idle server": idle.pid})()
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    assert 0.3 <= run.server_cpu["busy server"] <= run.wall + 0.1
    assert run.server_cpu["idle server"] < 0.05
    line = run.all_cpu()
    assert f"{run.cpu + sum(run.server_cpu.values()):.1f} s of CPU in all" in line
    assert "busy server" in line and "idle server" in line and "cores busy on average" in line


def test_a_run_ends_the_moment_its_process_exits_not_at_the_next_poll() -> None:
    """Popen.wait(timeout) looks every 50 ms at most, which rounded each wall time up by as much; wait_exactly blocks."""
    import statistics
    import subprocess
    import time
    from _common import wait_exactly  # pylint: disable=import-error
    child = "import os, time; time.sleep(0.12); print(time.time(), flush=True); os._exit(0)"
    gaps = []
    for _round in range(5):
        process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
        assert wait_exactly(process, 30)
        gaps.append(time.time() - float(process.stdout.read()))
        process.stdout.close()
    assert statistics.median(gaps) < 0.02, gaps


def test_wait_exactly_kills_what_outlives_its_timeout() -> None:
    import subprocess
    import time
    from _common import wait_exactly  # pylint: disable=import-error
    process = subprocess.Popen(["sleep", "60"])
    started = time.perf_counter()
    assert not wait_exactly(process, 0.3)
    assert time.perf_counter() - started < 5 and process.returncode is not None
