"""The proxy in front of gunicorn: one nginx server block (deploy/nginx.conf.template) for
both ways MESS starts, valid for nginx itself and complete in each."""

import re
import subprocess

import yaml
from django.conf import settings

from messsite.front import TEMPLATE, nginx_binary, nginx_config


def test_the_launchers_config_is_valid_nginx_with_the_settings_limits(tmp_path, settings):
    settings.MESS_MAX_REQUEST_BYTES = 123456789
    settings.MESS_CLIENT_TIMEOUT = 7
    config = nginx_config(listen="127.0.0.1:1", upstream="unix:/nonexistent.sock", prefix=tmp_path)
    assert "${" not in config
    assert "client_max_body_size 123456789;" in config and "client_body_timeout 7s;" in config
    (tmp_path / "nginx.conf").write_text(config)
    checked = subprocess.run([nginx_binary(), "-t", "-p", tmp_path, "-c", tmp_path / "nginx.conf", "-e", "stderr"],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_compose_gives_the_proxy_every_name_the_template_uses():
    """The nginx image fills ${NAME}s from its environment and leaves unknown ones as they
    are, which nginx would then read as a variable of its own: every name must be set."""
    used = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))
    compose = yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())
    proxy = compose["services"]["proxy"]
    assert set(proxy["environment"]) >= used
    assert any(volume.endswith(":/etc/nginx/templates/default.conf.template:ro") for volume in proxy["volumes"])
    # gunicorn is reached only through the proxy, and trusts the address it appends.
    assert "ports" not in compose["services"]["web"]
    assert compose["services"]["web"]["environment"]["MESS_PROXY_COUNT"] == "1"
