import pytest

from photon.cli._common import raise_open_file_limit

resource = pytest.importorskip("resource")


def test_raises_the_soft_open_file_limit_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no finite hard limit to raise to")
    low = hard // 2
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        assert raise_open_file_limit() == (low, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
        assert raise_open_file_limit() is None  # nothing left to raise
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
