"""A real IMAP server for the tests: Debian's dovecot (dovecot-imapd, installed by `make
test`), with its own config in a temporary folder: 127.0.0.1 on free ports, plain IMAP with
STARTTLS and IMAPS with a self-signed certificate, one passwd-file user, Maildir storage."""

from __future__ import annotations

import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

from tests.smtp_server import free_port

USER, PASSWORD = "inbox@planwerk.example", "s3cret pass"

CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:{root}/mail/%u
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass
class Dovecot:
    root: Path
    imap_port: int
    imaps_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def cafile(self) -> Path:
        return self.root / "cert.pem"

    def url(self, tls: str = "starttls", password: str = PASSWORD, port: int | None = None) -> str:
        """An inbox URL: tls is "imaps", "starttls" (imap:// upgraded) or "plain"."""
        from urllib.parse import quote

        auth = f"{quote(USER)}:{quote(password)}"
        if tls == "imaps":
            return f"imaps://{auth}@127.0.0.1:{port or self.imaps_port}/INBOX?cafile={self.cafile}"
        if tls == "starttls":
            return (
                f"imap://{auth}@127.0.0.1:{port or self.imap_port}/INBOX?starttls=yes"
                f"&cafile={self.cafile}"
            )
        return f"imap://{auth}@127.0.0.1:{port or self.imap_port}/INBOX?starttls=no"

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", self.imap_port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        client.select_folder("INBOX")
        return client

    def append(self, *messages: bytes) -> None:
        client = self.client()
        try:
            for message in messages:
                client.append("INBOX", message)
        finally:
            client.logout()

    def seen(self) -> tuple[int, int]:
        """(seen, unseen) messages in the INBOX."""
        client = self.client()
        try:
            return len(client.search(["SEEN"])), len(client.search(["UNSEEN"]))
        finally:
            client.logout()

    def clear(self) -> None:
        client = self.client()
        try:
            uids = client.search(["ALL"])
            if uids:
                client.delete_messages(uids)
                client.expunge()
        finally:
            client.logout()

    def start(self) -> None:
        dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(dovecot).exists():
            raise RuntimeError("dovecot not installed: apt-get install dovecot-imapd (make test)")
        user = pwd.getpwnam("dovecot")
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout", str(self.root / "key.pem"), "-out", str(self.cafile),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        conf = self.root / "dovecot.conf"
        conf.write_text(
            CONF.format(
                root=self.root,
                imap=self.imap_port,
                imaps=self.imaps_port,
                uid=user.pw_uid,
                gid=user.pw_gid,
            )
        )
        for sub in ("mail", "home"):
            shutil.chown(self.root / sub, user.pw_uid, user.pw_gid)
        self.proc = subprocess.Popen(
            [dovecot, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise RuntimeError(f"dovecot exited ({self.proc.returncode}): {out}{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.imap_port), timeout=1).close()
                self.client().logout()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not answer within 20 s: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start_dovecot() -> Dovecot:
    # Not under pytest's tmp_path (0700 root): dovecot's mail processes run as the dovecot user.
    root = Path(tempfile.mkdtemp(prefix="nurture-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root, free_port(), free_port())
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
