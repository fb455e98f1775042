"""The request-level verdicts: HEAD, scanner and proxy agents and networks, generic bots, and
the project's own additions to the shipped list."""

from __future__ import annotations

import shutil

import pytest

from nurture.config.project import load_project
from nurture.config.signals import Machines as Extra
from nurture.config.yamlfile import ConfigError
from nurture.leads.events import MachineReason
from nurture.verdict.machines import machines_for
from tests.conftest import CONTENT
from tests.factories import BROWSER

SHIPPED = machines_for(Extra())
PERSON = BROWSER["User-Agent"]


GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
MIMECAST = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Mimecast-Link-Scanner/1.0"
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)


@pytest.mark.parametrize(
    ("agent", "reason"),
    [
        # image proxies: Gmail's, Yahoo's, Apple Mail Privacy Protection's bare agent
        (GMAIL, MachineReason.KNOWN_AGENT),
        (YAHOO, MachineReason.KNOWN_AGENT),
        ("Mozilla/5.0", MachineReason.KNOWN_AGENT),
        # link scanners of mail gateways
        ("Mozilla/5.0 (compatible; Barracuda Sentinel (EE))", MachineReason.KNOWN_AGENT),
        (MIMECAST, MachineReason.KNOWN_AGENT),
        # generic bots and scripts
        ("python-requests/2.32.3", MachineReason.BOT),
        ("curl/8.5.0", MachineReason.BOT),
        ("Wget/1.21.4", MachineReason.BOT),
        ("", MachineReason.BOT),  # every browser and mail client sends one
        # people: a browser, Apple Mail on an iPhone opening for real, Safari, Outlook on the
        # desktop and in its apps (which generic bot lists count as bots), Thunderbird
        (PERSON, None),
        ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)", None),
        ("Mozilla/4.0 (compatible; ms-office; MSOffice 16)", None),
        ("Outlook-iOS/709.2226530.prod.iphone (3.24.1)", None),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Thunderbird/115.5",
            None,
        ),
        (IPHONE_MAIL, None),
        (SAFARI, None),
    ],
)
def test_user_agents(agent, reason):
    assert SHIPPED.judge("GET", agent, "198.51.100.7") == reason


def test_head_requests_and_networks():
    assert SHIPPED.judge("HEAD", PERSON, "198.51.100.7") == MachineReason.HEAD_REQUEST
    # Microsoft's Exchange Online Protection (Safe Links), Apple's MPP proxies, Proofpoint
    for ip in ("40.94.31.2", "17.58.101.9", "148.163.150.1"):
        assert SHIPPED.judge("GET", PERSON, ip) == MachineReason.KNOWN_NETWORK, ip
    assert SHIPPED.judge("GET", PERSON, "2001:db8::1") is None
    assert SHIPPED.judge("GET", PERSON, "not an address") is None
    assert SHIPPED.judge("GET", PERSON, None) is None


def test_a_project_extends_the_shipped_list():
    ours = machines_for(Extra(user_agents=["Acme-Gateway/\\d"], networks=["203.0.113.0/24"]))
    assert ours.judge("GET", "Acme-Gateway/3 (link check)", "198.51.100.7") == (
        MachineReason.KNOWN_AGENT
    )
    assert ours.judge("GET", PERSON, "203.0.113.77") == MachineReason.KNOWN_NETWORK
    assert ours.judge("GET", "Mozilla/5.0", "198.51.100.7") == MachineReason.KNOWN_AGENT
    # the shipped list alone does not know them
    assert SHIPPED.judge("GET", "Acme-Gateway/3 (link check)", "203.0.113.77") is None


def test_bad_additions_are_config_errors(tmp_path):

    shutil.copytree(CONTENT / "config", tmp_path / "config")
    (tmp_path / "config" / "signals.yaml").write_text(
        "engagement:\n  machines:\n    user_agents: ['(unclosed']\n    networks: [300.1.1.0/24]\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_project(tmp_path / "config")
    problems = {(p.file.name, p.line): p.message for p in raised.value.problems}
    assert any(
        f == "signals.yaml" and line == 3 and "regular expression" in m
        for (f, line), m in problems.items()
    )
    assert any(
        f == "signals.yaml" and line == 4 and "IP network" in m for (f, line), m in problems.items()
    )
