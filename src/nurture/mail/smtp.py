"""The SMTP transport: aiosmtplib over a pool of reused connections, each message's MAIL, RCPT
and DATA sent one by one so that a failure is classified by the stage it happened in
(docs/delivery.md, "SMTP replies"). The content goes out through our own DATA step
(nurture.compat.aiosmtplib)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import aiosmtplib

from nurture.compat.aiosmtplib import send_content
from nurture.mail.backend import SendResult, SendStatus, Transport, TransportUnavailable
from nurture.mail.message import OutgoingMessage

log = logging.getLogger(__name__)


@dataclass
class SmtpOptions:
    hostname: str
    port: int
    use_tls: bool = False
    start_tls: bool | None = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line
    pool: int = 8
    timeout: float = 30.0


_Job = tuple[OutgoingMessage, "asyncio.Future[SendResult]"]


def _code_status(code: int) -> SendStatus:
    return SendStatus.BOUNCED if code >= 500 else SendStatus.RETRY


def _after_content(exc: aiosmtplib.SMTPResponseException) -> tuple[SendStatus, bool]:
    """What a reply other than 2xx to the message content means, and whether the connection
    may be reused. Only a clear 4xx or 5xx says the message was not taken; a malformed reply
    (aiosmtplib's code -1) or anything else may hide an accepted message: in doubt. 421
    means the server is closing the connection."""
    if 400 <= exc.code < 600:
        return _code_status(exc.code), exc.code != 421
    return SendStatus.IN_DOUBT, False


class SmtpTransport(Transport):
    """aiosmtplib over a pool of reused connections; MAIL, RCPT and DATA sent one by one so
    that a failure is classified by the stage it happened in."""

    def __init__(self, options: SmtpOptions):
        self.options = options
        self._idle: list[aiosmtplib.SMTP] = []  # connected, no worker holds them
        self._queue: asyncio.Queue[_Job] | None = None
        self._workers: list[asyncio.Task[None]] = []

    def _client(self) -> aiosmtplib.SMTP:
        o = self.options
        return aiosmtplib.SMTP(
            hostname=o.hostname,
            port=o.port,
            use_tls=o.use_tls,
            start_tls=o.start_tls,
            username=o.username,
            password=o.password,
            timeout=o.timeout,
        )

    async def _connect(self) -> aiosmtplib.SMTP:
        client = self._client()
        server = f"{self.options.hostname}:{self.options.port}"
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:  # greet now: a refusal is the server's answer
                try:  # to us, and must not surface later as a reply about a lead's address
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
        except aiosmtplib.SMTPHeloError as exc:
            client.close()
            raise TransportUnavailable(
                f"SMTP server {server} refused our greeting: {exc.code} {exc.message}"
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise TransportUnavailable(f"cannot reach SMTP server {server}: {exc}") from exc
        return client

    async def open(self) -> None:
        if not self._idle:
            self._idle.append(await self._connect())

    async def _send_one(
        self, client: aiosmtplib.SMTP, message: OutgoingMessage
    ) -> tuple[SendResult, bool]:
        """Returns the result and whether the connection is still usable. One timer per
        stage rather than aiosmtplib's one per command (~10 % of this transport's CPU)."""
        try:
            async with asyncio.timeout(self.options.timeout):
                await self._envelope(client, message)
        except aiosmtplib.SMTPHeloError as exc:
            # The server will not talk to us (e.g. a HELO policy): our problem, not the
            # lead's address. Not sent; the pass fails with the reason, the touches stay due.
            reply = f"SMTP server refused our greeting: {exc.code} {exc.message}"
            return SendResult(message, SendStatus.NOT_SENT, exc.code, reply), False
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset(client)
            if isinstance(exc, aiosmtplib.SMTPSenderRefused) and exc.code >= 500:
                # Our sender address was refused, for every lead alike: fail the pass rather
                # than count attempts against (and eventually end) every lead's drip.
                reply = f"SMTP server refused the sender {message.sender}: {exc.code} {exc.message}"
                return SendResult(
                    message, SendStatus.NOT_SENT, exc.code, reply
                ), client.is_connected
            status: SendStatus = _code_status(exc.code)
            return SendResult(message, status, exc.code, exc.message), client.is_connected
        except (aiosmtplib.SMTPException, OSError) as exc:
            # The content was not sent yet: nothing can have been delivered, safe to resend.
            return SendResult(
                message, SendStatus.RETRY, None, f"lost before the content: {exc}"
            ), False
        try:
            async with asyncio.timeout(self.options.timeout):
                response = await send_content(client, message.data)
        except aiosmtplib.SMTPResponseException as exc:
            status, usable = _after_content(exc)
            return SendResult(message, status, exc.code, exc.message), usable
        except (aiosmtplib.SMTPException, OSError) as exc:
            return SendResult(
                message, SendStatus.IN_DOUBT, None, f"connection lost in DATA: {exc}"
            ), False
        return SendResult(message, SendStatus.SENT, response.code, response.message), True

    @staticmethod
    async def _envelope(client: aiosmtplib.SMTP, message: OutgoingMessage) -> None:
        """MAIL FROM, RCPT TO and DATA up to the server's 354. Addresses were checked when
        the message was built, so we skip aiosmtplib's per-call re-parsing (email.utils,
        ~40 us a message) once the greeting is done."""
        if client.is_ehlo_or_helo_needed:
            await client.mail(message.sender)  # greets the server first
        else:
            response = await client.execute_command(
                b"MAIL", f"FROM:<{message.sender}>".encode(), timeout=None
            )
            if response.code != 250:
                raise aiosmtplib.SMTPSenderRefused(response.code, response.message, message.sender)
        response = await client.execute_command(
            b"RCPT", f"TO:<{message.recipient}>".encode(), timeout=None
        )
        if response.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientRefused(
                response.code, response.message, message.recipient
            )
        response = await client.execute_command(b"DATA", timeout=None)
        if response.code != 354:
            raise aiosmtplib.SMTPDataError(response.code, response.message)

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    def _start(self) -> asyncio.Queue[_Job]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._workers = [
                asyncio.create_task(self._worker(self._queue)) for _ in range(self.options.pool)
            ]
        return self._queue

    async def _worker(self, queue: asyncio.Queue[_Job]) -> None:
        """One connection: takes messages from the shared queue until the transport closes."""
        client: aiosmtplib.SMTP | None = self._idle.pop() if self._idle else None
        try:
            while True:
                message, reply = await queue.get()
                if reply.done():  # the caller gave up waiting (cancelled)
                    continue
                if client is None or not client.is_connected:
                    try:
                        client = await self._connect()
                    except TransportUnavailable as exc:
                        reply.set_result(SendResult(message, SendStatus.NOT_SENT, None, str(exc)))
                        client = None
                        continue
                try:
                    result, usable = await self._send_one(client, message)
                except Exception as exc:
                    # A bug, not a reply. Whatever stage it came from, the message may have
                    # gone out: in doubt, and the rest of the batch is still recorded.
                    log.exception("sending %s failed unexpectedly", message.message_id)
                    usable = False
                    result = SendResult(
                        message, SendStatus.IN_DOUBT, None, f"unexpected error: {exc!r}"
                    )
                if not reply.done():
                    reply.set_result(result)
                if not usable:
                    client.close()
                    client = None
        finally:
            if client is not None and client.is_connected:
                self._idle.append(client)

    async def send(self, batch: list[OutgoingMessage]) -> list[SendResult]:
        """Queue the batch for the pool's connections and wait for its results. Concurrent
        calls share the connections (first come, first sent): a caller can queue the next
        batch while this one is on the wire, and no connection waits for a batch's last
        few messages."""
        queue = self._start()
        loop = asyncio.get_running_loop()
        replies: list[asyncio.Future[SendResult]] = []
        for message in batch:
            reply = loop.create_future()
            queue.put_nowait((message, reply))
            replies.append(reply)
        return list(await asyncio.gather(*replies))

    async def close(self) -> None:
        workers, self._workers, self._queue = self._workers, [], None
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
