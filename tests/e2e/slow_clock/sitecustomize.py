"""Put on PYTHONPATH by the e2e clock tests: every ``datetime.now()``/``utcnow()`` of the process runs
``APIKEYS_TEST_CLOCK_BEHIND`` seconds slow, as on a controller whose clock drifted.

(Debian's libfaketime 0.9.10 cannot do this for Python 3.11 here: every ``time.sleep`` then fails with
EINVAL.) Only the wall clock is changed; monotonic time, and so timeouts, are not.
"""
import datetime as _datetime
import os as _os

_BEHIND = _datetime.timedelta(seconds=float(_os.environ.get("APIKEYS_TEST_CLOCK_BEHIND") or 0))


class _SlowDatetime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return super().now(tz) - _BEHIND

    @classmethod
    def utcnow(cls):
        return super().now(_datetime.timezone.utc).replace(tzinfo=None) - _BEHIND


if _BEHIND:
    _datetime.datetime = _SlowDatetime
