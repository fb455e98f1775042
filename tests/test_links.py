"""Signed links (nurture.links): what each kind names, and that links in emails already sent
keep working. The URLs below were made by the code before the links module (key
"golden-key", base https://n.example): the new code must read them, and make them again
byte for byte where the token has no timestamp."""

from __future__ import annotations

import re

import pytest

from nurture.links import Click, LeadUnsubscribe, Links, NpsScore, SendUnsubscribe
from nurture.tokens import InvalidToken, Tokens

LINKS = Links(Tokens("golden-key"), "https://n.example/")
CLICKED = "https://example.com/preise?a=1&b=ä"
OLD = {
    "open": "https://n.example/o/1267.qhRP4zswEBj50gsCfMFq_ygn2BM",
    "click": "https://n.example/r/MTI2NyBodHRwczovL2V4YW1wbGUuY29tL3ByZWlzZT9hPTEmYj3DpA"
    ".I5KJh_pAvmBMJZo0-wAjnV8fb00",
    "unsubscribe_send": "https://n.example/u/t1267.iBROr7IdUb4RB7fvFUzxbSYksmw",
    "unsubscribe_lead": "https://n.example/u/0123456789abcdef0123456789abcdef"
    ".I33mmol7FyR763yf0kQHN3m7Q6g",
    "accept": "https://n.example/s/ff.QwF1P-DlcU6MMgMWnHlXO3ATH_g/accept",
    "reject": "https://n.example/s/ff.QwF1P-DlcU6MMgMWnHlXO3ATH_g/reject",
    "confirm": "https://n.example/c/NDI.aw89qQ.BOXErj4fZNNdRCLuC6ZgiPzN2FE",  # timed: made 2025
}
LEAD = "0123456789abcdef0123456789abcdef"


def token(url: str) -> str:
    return url.split("/")[4]


def test_links_made_before_are_made_again_byte_for_byte():
    assert LINKS.open_url(4711) == OLD["open"]
    assert LINKS.click_url(4711, CLICKED) == OLD["click"]
    assert LINKS.unsubscribe_send_url(4711) == OLD["unsubscribe_send"]
    assert LINKS.unsubscribe_lead_url(LEAD) == OLD["unsubscribe_lead"]
    assert LINKS.handoff_url(255, "accept") == OLD["accept"]
    assert LINKS.handoff_url(255, "reject") == OLD["reject"]


def test_links_made_before_are_read_as_what_they_name():
    assert LINKS.read_open(token(OLD["open"])) == 4711
    assert LINKS.read_click(token(OLD["click"])) == Click(4711, CLICKED)
    assert LINKS.read_unsubscribe(token(OLD["unsubscribe_send"])) == SendUnsubscribe(4711)
    assert LINKS.read_unsubscribe(token(OLD["unsubscribe_lead"])) == LeadUnsubscribe(LEAD)
    assert LINKS.read_handoff(token(OLD["accept"])) == 255
    assert LINKS.read_confirm(token(OLD["confirm"])) == 42


def test_each_kind_reads_back_what_it_made():
    assert LINKS.read_confirm(token(LINKS.confirm_url(7))) == 7
    assert LINKS.read_open(token(LINKS.open_url(0))) == 0
    assert LINKS.read_click(token(LINKS.click_url(9, "http://a.example/ x"))) == Click(
        9, "http://a.example/ x"
    )
    assert LINKS.handoff_url(3, "reject").endswith("/reject")


@pytest.mark.parametrize(
    ("read", "url"),
    [
        # a token of one kind is no token of another
        (LINKS.read_click, OLD["open"]),
        (LINKS.read_open, OLD["click"]),
        (LINKS.read_handoff, OLD["open"]),
        (LINKS.read_unsubscribe, OLD["accept"]),
        (LINKS.read_confirm, OLD["unsubscribe_lead"]),
        (LINKS.read_open, OLD["confirm"]),
        # signed with another key
        (LINKS.read_open, Links(Tokens("other"), "https://n.example").open_url(4711)),
        # altered payload or signature
        (LINKS.read_open, OLD["open"].replace("1267.", "1268.")),
        (LINKS.read_click, OLD["click"][:-2] + "xx"),
        (LINKS.read_unsubscribe, OLD["unsubscribe_send"].replace("t1267", "t1266")),
        (LINKS.read_confirm, OLD["confirm"][:-1] + "A"),
        (LINKS.read_handoff, "https://n.example/s/nonsense/accept"),
    ],
)
def test_anything_we_did_not_sign_is_an_invalid_token(read, url):
    with pytest.raises(InvalidToken):
        read(token(url))


def test_a_signed_payload_of_the_wrong_shape_is_an_invalid_token():
    tokens = Tokens("golden-key")  # signed by us, but not something a link maker makes
    with pytest.raises(InvalidToken):
        LINKS.read_open(tokens.sign("open", "not-hex"))
    with pytest.raises(InvalidToken):
        LINKS.read_unsubscribe(tokens.sign("unsubscribe", "tzz"))
    with pytest.raises(InvalidToken):
        LINKS.read_confirm(tokens.make("confirm", "42"))
    with pytest.raises(InvalidToken):
        LINKS.read_click(tokens.sign("click", "%%%"))


def test_nps_links_are_url_safe_and_read_back():
    # (loyalty) a space in the token broke the link in mail clients
    links = Links(Tokens("k"), "https://n.example")
    for url, expected in (
        (links.nps_send_url(0x1F, 10), NpsScore(10, touch_id=0x1F)),
        (links.nps_lead_url("ab" * 16, 0), NpsScore(0, public_id="ab" * 16)),
    ):
        token = url.removeprefix("https://n.example/n/")
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)
        assert links.read_nps(token) == expected
