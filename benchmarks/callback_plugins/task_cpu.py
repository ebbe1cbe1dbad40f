# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where one run's time and CPU go, task by task (a measuring aid for benchmarks, not part of the collection).

Run:
  ANSIBLE_CALLBACK_PLUGINS=benchmarks/callback_plugins ANSIBLE_CALLBACKS_ENABLED=task_cpu \\
      APIKEYS_TASK_CPU_LOG=/tmp/task-cpu.log ansible-playbook ... playbooks/rotate.yml -e secret=<one key>

Appends one line per task to APIKEYS_TASK_CPU_LOG (default: stderr): wall time from this task's banner to the next
one, CPU seconds of the controller process over it, and CPU seconds of the worker processes reaped over it (a forked
worker's CPU is counted when the controller reaps it, often during the NEXT task's row).
"""
from __future__ import annotations

import os
import resource
import sys
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: task_cpu
    type: aggregate
    short_description: wall and CPU seconds per task (benchmarks only)
    description: Appends, per task, the wall time, the controller's CPU and the reaped workers' CPU to a log.
    requirements: [enable in configuration]
"""


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_cpu"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        path = os.environ.get("APIKEYS_TASK_CPU_LOG")
        self.out = open(path, "a", encoding="utf-8") if path else sys.stderr  # pylint: disable=consider-using-with
        self.wall = time.perf_counter()
        self.cpu = _cpu()
        self.name = "start-up until this callback was loaded"
        self.out.write(f"{'wall ms':>9} {'ctl CPU':>8} {'workers':>8}  (controller CPU before this callback loaded: "
                       f"{self.cpu[0] * 1000:.0f} ms)\n")

    def _mark(self, name: str) -> None:
        wall, cpu = time.perf_counter(), _cpu()
        self.out.write(f"{(wall - self.wall) * 1000:9.1f} {(cpu[0] - self.cpu[0]) * 1000:8.0f} "
                       f"{(cpu[1] - self.cpu[1]) * 1000:8.0f}  {self.name}\n")
        self.wall, self.cpu, self.name = wall, cpu, name

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._mark("playbook load")

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._mark(f"play start: {play.get_name()}")

    def v2_playbook_on_task_start(self, task: Any, is_conditional: Any) -> None:
        self._mark(task.get_name())

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._mark(f"handler: {task.get_name()}")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._mark("end")
        self.out.write("---\n")
        self.out.flush()
