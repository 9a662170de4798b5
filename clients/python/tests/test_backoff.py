"""Reconnect backoff: after a failed connect, a slot answers at once with that failure until its
wait (doubling, with jitter of ±50 %, capped) has passed; a success starts again from the first wait."""

from __future__ import annotations

import pytest

from moat_authz import ErrorKind, MoatError, Options, StatusCode
from moat_authz._wire import Backoff

FAILURE = MoatError(ErrorKind.UNREACHABLE, "cannot connect", StatusCode.UNAVAILABLE)


def test_the_wait_doubles_up_to_the_maximum_and_resets_on_success() -> None:
    backoff = Backoff(Options(initial_reconnect_backoff=0.01, maximum_reconnect_backoff=0.08))
    backoff.check(0.0)  # nothing failed yet
    for delay in (0.01, 0.02, 0.04, 0.08, 0.08):
        backoff.failed(FAILURE, 100.0)
        with pytest.raises(MoatError) as raised:
            backoff.check(100.0 + delay * 0.49)
        assert raised.value is FAILURE
        backoff.check(100.0 + delay * 1.51)
    backoff.succeeded()
    backoff.check(100.0)
    backoff.failed(FAILURE, 200.0)
    backoff.check(200.0 + 0.01 * 1.51)  # the first wait again
