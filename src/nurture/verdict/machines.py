"""The request-level signals: a HEAD request, a known scanner's or image proxy's user agent
or network (machines.yaml, extended by config/signals.yaml), a generic bot (crawlerdetect)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import yaml
from crawlerdetect import CrawlerDetect

from nurture.config.signals import Machines as ExtraMachines
from nurture.leads.events import MachineReason

SHIPPED = Path(__file__).with_name("machines.yaml")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=1)
def _shipped() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    return tuple(data["user_agents"]), tuple(data["networks"]), tuple(data["mail_clients"])


def _any_of(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)", re.IGNORECASE)


class Machines:
    """Known scanner and proxy agents and networks (the shipped list plus the project's),
    generic bots, HEAD. Verdicts are cached per user agent and per address: a gateway sends
    the same ones thousands of times."""

    def __init__(
        self, user_agents: Sequence[str], networks: Sequence[str], mail_clients: Sequence[str] = ()
    ):
        self._agents = _any_of(user_agents)
        self._clients = _any_of(mail_clients)
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )
        self._bots = CrawlerDetect()
        self.agent = lru_cache(maxsize=4096)(self._agent)
        self.address = lru_cache(maxsize=8192)(self._address)

    def _agent(self, user_agent: str) -> MachineReason | None:
        if not user_agent.strip():
            return MachineReason.BOT  # every browser and mail client sends one
        if self._agents.search(user_agent):
            return MachineReason.KNOWN_AGENT
        if self._clients.search(user_agent):  # a person's mail client, whatever bot lists say
            return None
        if self._bots.isCrawler(user_agent):
            return MachineReason.BOT
        return None

    def _address(self, ip: str) -> MachineReason | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if any(address in n for n in self._networks if n.version == address.version):
            return MachineReason.KNOWN_NETWORK
        return None

    def judge(self, method: str, user_agent: str | None, ip: str | None) -> MachineReason | None:
        """The verdict on what one request shows; None: nothing says machine."""
        if method == "HEAD":
            return MachineReason.HEAD_REQUEST
        return self.agent(user_agent or "") or (self.address(ip) if ip else None)


@lru_cache(maxsize=8)
def _machines(user_agents: tuple[str, ...], networks: tuple[str, ...]) -> Machines:
    agents, nets, clients = _shipped()
    return Machines((*agents, *user_agents), (*nets, *networks), clients)


def machines_for(extra: ExtraMachines) -> Machines:
    """The shipped list extended by the project's (config/signals.yaml), built once."""
    return _machines(tuple(extra.user_agents), tuple(extra.networks))
