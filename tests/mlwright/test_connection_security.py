"""TLS, mTLS and connection failures against a real server (behind a local TLS proxy): each failure
names the setting to fix."""

from __future__ import annotations

import pytest

from mlwright.client import ConnectionSettingsError, connect, tls_config
from mlwright.settings import Settings
from tests.conftest import target_of
from tests.helpers import free_port
from tests.mlwright.tls_proxy import make_pki, tls_proxy


@pytest.fixture
def pki(tmp_path):
    (tmp_path / "pki").mkdir()
    (tmp_path / "other").mkdir()
    return make_pki(tmp_path / "pki"), make_pki(tmp_path / "other")


def tls_settings(tmp_path, address: str, ca, cert=None, key=None, name="temporal.test") -> Settings:
    return Settings(environment="test", home=tmp_path / "home", temporal_address=address,
                    temporal_tls_server_ca=ca, temporal_tls_client_cert=cert, temporal_tls_client_key=key,
                    temporal_tls_server_name=name)


@pytest.mark.parametrize(("changes", "setting"), [
    ({"temporal_tls_client_cert": "/nonexistent.crt", "temporal_tls_client_key": "/nonexistent.key"},
     "MLWRIGHT_TEMPORAL_TLS_CLIENT_CERT: cannot read /nonexistent.crt"),
    ({"temporal_tls_server_ca": "/nonexistent-ca.pem"}, "MLWRIGHT_TEMPORAL_TLS_SERVER_CA: cannot read"),
    ({"temporal_tls_client_cert": "CERT"}, "MLWRIGHT_TEMPORAL_TLS_CLIENT_KEY: mTLS needs both"),
    ({"temporal_tls_server_ca": "NOTPEM"}, "MLWRIGHT_TEMPORAL_TLS_SERVER_CA: not a PEM file"),
])
def test_bad_tls_files_name_the_setting(tmp_path, pki, changes, setting):
    good, _ = pki
    real = {"CERT": good.client_cert, "NOTPEM": tmp_path / "notpem"}
    (tmp_path / "notpem").write_text("hello")
    values = {k: real.get(v, v) for k, v in changes.items()}
    with pytest.raises(ConnectionSettingsError, match=setting):
        tls_config(Settings(environment="test", home=tmp_path, **values))


def test_api_key_alone_means_tls(tmp_path):
    assert tls_config(Settings(environment="test", home=tmp_path, temporal_api_key="k" * 20)) is True
    assert tls_config(Settings(environment="test", home=tmp_path)) is False


async def test_tls_and_mtls_through_a_tls_frontend(dev_env, tmp_path, pki):
    good, other = pki
    async with tls_proxy(target_of(dev_env.client), good) as address:
        client = await connect(tls_settings(tmp_path, address, good.ca))
        assert await client.service_client.check_health()
        with pytest.raises(ConnectionSettingsError, match="MLWRIGHT_TEMPORAL_TLS_SERVER_CA"):
            await connect(tls_settings(tmp_path, address, other.ca))  # a CA that did not sign the server
        with pytest.raises(ConnectionSettingsError, match="MLWRIGHT_TEMPORAL_ADDRESS"):
            await connect(Settings(environment="test", home=tmp_path / "h", temporal_address=address))
    async with tls_proxy(target_of(dev_env.client), good, require_client_cert=True) as address:
        client = await connect(tls_settings(tmp_path, address, good.ca, good.client_cert, good.client_key))
        assert await client.service_client.check_health()
        with pytest.raises(ConnectionSettingsError, match="MLWRIGHT_TEMPORAL_TLS_CLIENT_CERT"):
            await connect(tls_settings(tmp_path, address, good.ca, other.client_cert, other.client_key))


async def test_unreachable_server_names_the_address(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionSettingsError, match=f"MLWRIGHT_TEMPORAL_ADDRESS={address}"):
        await connect(Settings(environment="test", home=tmp_path, temporal_address=address))
