"""The login link `photonctl dashboard` prints."""

from __future__ import annotations

from photon.cli.ctl._dashboard import dashboard_url


def test_the_link_names_the_dialled_host_the_http_port_and_the_code() -> None:
    assert dashboard_url("hub.example:7444", 7480, "a-b_c") == (
        "http://hub.example:7480/login?code=a-b_c"
    )
    assert dashboard_url("[::1]:7444", 8080, "x+y") == "http://[::1]:8080/login?code=x%2By"
