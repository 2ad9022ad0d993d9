"""The environment is read once (issue #15, output path): proxies for the base URL (NO_PROXY
honoured) and the CA bundle resolved when the client is built, then passed explicitly with
trust_env=False, so requests reads no variable per request; each variable still takes effect."""
import socket

import pytest
from mcp_helpers import REPO, server_env

import orchestra_mcp as m
from orchestra_mcp import LineClient


def config(base_url="https://app.example.test/api/engine/public", **environ):
    return m.read_config({"ORCHESTRA_API_BASE_URL": base_url, "ORCHESTRA_API_KEY": "test-key",
                          **environ})


@pytest.mark.parametrize("environ, base_url, expected", [
    ({}, "https://app.example.test/api", {}),
    ({"HTTPS_PROXY": "http://proxy:3128"}, "https://app.example.test/api",
     {"https": "http://proxy:3128"}),
    ({"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"},
     "https://app.example.test/api", {"https": "http://lower:1"}),
    ({"HTTP_PROXY": "http://proxy:3128"}, "https://app.example.test/api", {}),
    ({"HTTP_PROXY": "http://proxy:3128"}, "http://127.0.0.1:8080/api", {"http": "http://proxy:3128"}),
    ({"ALL_PROXY": "socks5://s:1080"}, "https://app.example.test/api", {"https": "socks5://s:1080"}),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.test"}, "https://app.example.test/api", {}),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example.test"}, "https://app.example.test/api", {}),
    ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.test, *"}, "https://app.example.test/api", {}),
    ({"HTTPS_PROXY": "http://p:1", "no_proxy": "ample.test"}, "https://app.example.test/api",
     {"https": "http://p:1"}),   # a suffix match needs a dot: ample.test is not example.test
    ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:8080/api", {}),
    ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "127.0.0.1:8080"}, "http://127.0.0.1:8080/api", {}),
])
def test_the_proxy_for_the_base_url_is_resolved_from_the_environment(environ, base_url, expected):
    assert m._proxy_for(config(base_url, **environ)) == expected


def test_the_sessions_trust_nothing_from_the_environment_per_request():
    conf = config(HTTPS_PROXY="http://proxy:3128", REQUESTS_CA_BUNDLE="/etc/ca.pem",
                  CURL_CA_BUNDLE="/etc/other.pem")
    sessions = m._build_sessions(conf)
    for name in ("reads", "writes"):
        session = sessions[name]
        assert session.trust_env is False
        assert session.proxies == {"https": "http://proxy:3128"}
        assert session.verify == "/etc/ca.pem"
    assert m._build_sessions(config(CURL_CA_BUNDLE="/etc/other.pem"))["reads"].verify == \
        "/etc/other.pem"
    assert m._build_sessions(config())["reads"].verify is True


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("no_proxy, works", [(None, False), ("127.0.0.1", True)])
def test_http_proxy_takes_effect_unless_no_proxy_names_the_host(fake, tmp_path, no_proxy, works):
    extra = {"HTTP_PROXY": f"http://127.0.0.1:{closed_port()}"}
    if no_proxy:
        extra["NO_PROXY"] = no_proxy
    server = LineClient(env=server_env(fake.base_url, tmp_path, **extra), cwd=str(REPO))
    try:
        server.initialize()
        is_error, text = server.call("list_pipelines")
    finally:
        server.close()
    assert is_error is not works, text
    assert works or "proxy" in text.lower(), text


def test_a_ca_bundle_that_cannot_be_read_takes_effect_and_is_said_plainly(tmp_path):
    server = LineClient(env=server_env("https://127.0.0.1:9/api/engine/public", tmp_path,
                                       REQUESTS_CA_BUNDLE=str(tmp_path / "missing.pem")),
                        cwd=str(REPO))
    try:
        server.initialize()
        is_error, text = server.call("list_pipelines")
    finally:
        server.close()
    assert is_error and "REQUESTS_CA_BUNDLE" in text and "cannot be read" in text, text
