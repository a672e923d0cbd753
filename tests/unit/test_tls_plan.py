"""The enumeration planner against simulated servers: sets, order, connection counts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from vedette.tls.plan import Answered, Outcome, Planner, Probe, Refused, Unanswered
from vedette.tls.registry import SSL2, SSL3, TLS10, TLS11, TLS12, TLS13, suite
from vedette.tls.result import Tls13Flight
from vedette.tls.server import KeyExchange, ServerAnswer, ServerHello


@dataclass
class SimServer:
    """A server policy at the level of parsed answers (no bytes, no vedette codec)."""

    suites: dict[int, list[int]]  # version -> suites in the server's preference order
    server_order: bool = True
    groups13: list[int] = field(default_factory=list)
    curves: list[int] = field(default_factory=list)
    dh_bits: int = 2048
    sigalgs: list[int] = field(default_factory=lambda: [0x0804, 0x0401])
    sigalgs13: list[int] = field(default_factory=lambda: [0x0804, 0x0805])
    fallback_scsv: bool = True
    secure_reneg: bool = True
    needs_key_share: bool = False
    max_suites: int | None = None  # hangs up on longer hellos
    compress: bool = False
    fail_after: int | None = None  # Unanswered from this probe number on (rate limiting)
    seen: int = 0

    def answer(self, probe: Probe) -> Outcome:
        self.seen += 1
        if self.fail_after is not None and self.seen > self.fail_after:
            return Unanswered("421 too many connections")
        hello = probe.hello
        if hello is None:
            return Refused("closed")
        if self.max_suites is not None and len(hello.suites) > self.max_suites:
            return Refused("reset", hung_up=True)
        if hello.version == TLS13:
            if self.needs_key_share and not hello.key_shares:
                return Answered(ServerAnswer(alert=(2, 47)))  # illegal_parameter
            ours = self.suites.get(TLS13, [])
            pick = self._pick(ours, hello.suites)
            if any(g not in hello.groups for g, _ in hello.key_shares):
                return Answered(ServerAnswer(alert=(2, 47)))  # a share for an unoffered group
            if probe.decrypt and pick is not None:
                # The driver's Tls13Client sends shares for every offered group it computes.
                group = self._pick(self.groups13, hello.groups)
                if group is None:
                    return Answered(ServerAnswer(alert=(2, 40)))
                sigalg = self._pick(self.sigalgs13, hello.sigalgs)
                if sigalg is None:
                    return Answered(ServerAnswer(alert=(2, 40)))
                flight = Tls13Flight(certificates=(b"leaf13",), sigalg=sigalg, finished=True)
                h13 = self._hello(TLS13, pick, group=group)
                return Answered(ServerAnswer(hello=h13, tls13=flight))
            for g, _ in hello.key_shares:
                if g in self.groups13 and pick is not None:
                    # A usable share: a real ServerHello for its group, no retry.
                    return Answered(ServerAnswer(hello=self._hello(TLS13, pick, group=g)))
            group = self._pick(self.groups13, hello.groups)
            if pick is None or group is None:
                if self.needs_key_share:
                    return Answered(ServerAnswer(alert=(2, 47)))
                return Answered(ServerAnswer(alert=(2, 40)))
            return Answered(ServerAnswer(hello=self._hello(TLS13, pick, retry=True, group=group)))
        supported = [v for v in self.suites if v <= hello.version and v != TLS13]
        if not supported:
            return Answered(ServerAnswer(alert=(2, 70)))
        version = max(supported)
        if hello.fallback_scsv and self.fallback_scsv and version < max(self.suites):
            return Answered(ServerAnswer(alert=(2, 86)))
        pick = self._pick(self.suites[version], hello.suites)
        if pick is None:
            return Answered(ServerAnswer(alert=(2, 40)))
        kx = None
        info = suite(pick)
        if info is not None and info.kx == "ECDHE":
            curve = self._pick(self.curves, hello.groups)
            if curve is None:
                return Answered(ServerAnswer(alert=(2, 40)))
            sigalg = self._pick(self.sigalgs, hello.sigalgs)
            if sigalg is None:
                return Answered(ServerAnswer(alert=(2, 40)))
            kx = KeyExchange(kind="ecdhe", group=curve, sigalg=sigalg)
        elif info is not None and info.kx == "DHE":
            sigalg = self._pick(self.sigalgs, hello.sigalgs)
            if sigalg is None:
                return Answered(ServerAnswer(alert=(2, 40)))
            kx = KeyExchange(kind="dhe", bits=self.dh_bits, sigalg=sigalg)
        exts = ((0xFF01, b"\x00"),) if self.secure_reneg else ()
        h = self._hello(version, pick, exts=exts)
        if self.compress and 1 in hello.compression:
            h = dataclasses.replace(h, compression=1)
        return Answered(ServerAnswer(hello=h, key_exchange=kx, hello_done=True))

    def _pick(self, ours: list[int], offered: tuple[int, ...]) -> int | None:
        if self.server_order:
            return next((c for c in ours if c in offered), None)
        return next((c for c in offered if c in ours), None)

    @staticmethod
    def _hello(
        version: int,
        pick: int,
        *,
        retry: bool = False,
        group: int | None = None,
        exts: tuple[tuple[int, bytes], ...] = (),
    ) -> ServerHello:
        return ServerHello(
            version=version,
            legacy_version=min(version, TLS12),
            random=bytes(32),
            session_id=b"",
            suite=pick,
            compression=0,
            extensions=tuple(exts),
            retry=retry,
            group=group,
        )


def run(server: SimServer, **kw):
    planner = Planner("mail.example.test", **kw)
    sent = 0
    for _ in range(10_000):
        if planner.done:
            break
        for probe in planner.ready():
            sent += 1
            planner.record(probe, server.answer(probe))
    assert planner.done
    return planner.result(connections=sent), sent


ECDHE_GCM = 0xC02F
ECDHE_CBC = 0xC013
RSA_GCM = 0x009C
DHE_GCM = 0x009E
RSA_3DES = 0x000A


def test_finds_exact_sets_and_server_order_with_few_connections():
    server = SimServer(
        suites={
            TLS12: [ECDHE_GCM, DHE_GCM, ECDHE_CBC, RSA_GCM, RSA_3DES],
            TLS13: [0x1302, 0x1301],
        },
        groups13=[0x11EC, 0x001D, 0x0017],
        curves=[0x001D, 0x0017],
        dh_bits=1024,
    )
    result, sent = run(server)
    assert result.versions == (TLS12, TLS13)
    assert result.suites_for(TLS12) == (ECDHE_GCM, DHE_GCM, ECDHE_CBC, RSA_GCM, RSA_3DES)
    assert result.suites_for(TLS13) == (0x1302, 0x1301)
    assert all(vs.server_order for vs in result.suites)
    assert result.groups == (0x11EC, 0x001D, 0x0017)
    assert result.groups_tls12 == (0x001D, 0x0017)
    assert result.dh_bits == (1024,)
    assert result.fallback_scsv is True and result.secure_renegotiation is True
    assert not result.incomplete
    # SSLv2 1 + SSLv3/1.0/1.1 1 each + TLS 1.2 (5 + 1 refusal) + order 1 + TLS 1.3 (2 + 1)
    # + order 1 + groups (the first came with the suites: 2 more + 1) + curves (2 + 1)
    # + signature schemes (the first came with the suites: 1 more + 1) + fallback 1
    # + a hello without SNI 1 + TLS 1.3 signature schemes (2 + 1) = 28, where one hello per
    # registry suite would be over 400.
    assert sent == 28
    assert result.sigalgs_tls13 == (0x0804, 0x0805)
    assert result.ocsp_staple_tls13 is False
    assert result.ocsp_staple_tls12 is None  # the simulated TLS 1.2 flights carry no certificate
    assert result.sigalgs == (0x0804, 0x0401)


def test_client_order_is_recognised():
    server = SimServer(
        suites={TLS12: [ECDHE_GCM, RSA_GCM, RSA_3DES]}, server_order=False, curves=[0x17]
    )
    result, _ = run(server)
    assert set(result.suites_for(TLS12)) == {ECDHE_GCM, RSA_GCM, RSA_3DES}
    assert result.suites[0].server_order is False
    assert result.fallback_scsv is None  # a single version: nothing to fall back to


def test_legacy_versions_and_no_fallback_scsv():
    server = SimServer(
        suites={SSL3: [RSA_3DES], TLS10: [ECDHE_CBC, RSA_3DES], TLS11: [ECDHE_CBC]},
        curves=[0x17],
        fallback_scsv=False,
        secure_reneg=False,
    )
    result, _ = run(server)
    assert result.versions == (SSL3, TLS10, TLS11)
    assert result.suites_for(SSL3) == (RSA_3DES,)
    assert result.fallback_scsv is False
    assert result.secure_renegotiation is False


def test_rate_limited_server_gives_an_incomplete_result_not_refusals():
    server = SimServer(suites={TLS12: [ECDHE_GCM, RSA_GCM, RSA_3DES]}, curves=[0x17], fail_after=2)
    result, _ = run(server, versions=(TLS12,))
    assert result.incomplete
    assert "421" in (result.incomplete_reason or "")
    assert set(result.suites_for(TLS12)) < {ECDHE_GCM, RSA_GCM, RSA_3DES}


def test_sslv2_only_probe():
    result, sent = run(SimServer(suites={}), versions=(SSL2,))
    assert result.versions == () and sent == 1


def test_tls13_server_that_refuses_an_empty_key_share():
    server = SimServer(suites={TLS13: [0x1301, 0x1302]}, groups13=[29], needs_key_share=True)
    result, _ = run(server, versions=(TLS13,))
    assert result.versions == (TLS13,)
    assert set(result.suites_for(TLS13)) == {0x1301, 0x1302}


def test_tls13_groups_of_a_server_that_refuses_an_empty_key_share():
    # X448 and P-384 are taken from a share; P-256 is named by a HelloRetryRequest when the
    # share offered is for a group the server lacks (P-521); ffdhe groups cannot be shared.
    groups = [0x001E, 0x0017, 0x0018]
    server = SimServer(suites={TLS13: [0x1301]}, groups13=groups, needs_key_share=True)
    result, sent = run(server, versions=(TLS13,))
    assert result.versions == (TLS13,)
    assert set(result.groups) == set(groups)
    assert len(result.groups) == 3
    assert sent <= 12
    # Without the share fallback the same server would show no group at all beyond the first.
    server = SimServer(suites={TLS13: [0x1301]}, groups13=[0x0017, 0x0100], needs_key_share=True)
    result, _ = run(server, versions=(TLS13,))
    assert 0x0017 in result.groups
    assert result.incomplete  # ffdhe2048 could not be tested without a share


def test_deflate_is_offered_once_per_version_and_detected():
    server = SimServer(suites={TLS12: [RSA_GCM]}, compress=True)
    result, _ = run(server, versions=(TLS12,))
    assert result.compression is True
    result, _ = run(SimServer(suites={TLS12: [RSA_GCM]}), versions=(TLS12,))
    assert result.compression is False


def test_a_server_that_chokes_on_long_hellos_gets_slices():
    server = SimServer(suites={TLS12: [ECDHE_GCM, RSA_GCM, RSA_3DES]}, curves=[23], max_suites=130)
    result, _ = run(server, versions=(TLS12,))
    assert set(result.suites_for(TLS12)) == {ECDHE_GCM, RSA_GCM, RSA_3DES}
    # A server that refuses cleanly is believed at once: one hello for an absent version.
    _, sent = run(SimServer(suites={TLS12: [ECDHE_GCM]}, curves=[23]), versions=(TLS10,))
    assert sent == 1
