"""Plain-dict form of ``vedette.tls.TlsScan`` for the store (see ``store.codec``).

Same conventions as ``codec``: codes are integers, certificates base64, ``None`` kept as
``null``; reading is strict (every field present and typed, unknown fields refused) and every
failure is one ``StoreError`` naming the field.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from vedette.errors import StoreError
from vedette.tls.result import ClientCertRequest, TlsScan, VersionSuites

_FLAGS = (
    "secure_renegotiation",
    "fallback_scsv",
    "compression",
    "session_ticket",
    "ocsp_stapling",
    "heartbeat",
    "extended_master_secret",
    "encrypt_then_mac",
    "resumption",
    "resumption_tls13",
    "ocsp_staple_tls12",
    "ocsp_staple_tls13",
)
_CODE_LISTS = (
    "versions",
    "groups",
    "groups_tls12",
    "dh_bits",
    "sigalgs",
    "sigalgs_tls13",
    "tested_versions",
)
#: Fields added after scans were first stored, with the value an older scan decodes to.
_LATER: dict[str, Any] = {
    "resumption": None,
    "resumption_tls13": None,
    "ocsp_staple_tls12": None,
    "ocsp_staple_tls13": None,
    "sigalgs_tls13": [],
    "ocsp_response": None,
    "tested_versions": [],
}


def _b64(der: bytes | None) -> str | None:
    return None if der is None else base64.b64encode(der).decode("ascii")


def _unb64(value: object, where: str) -> bytes | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise StoreError(f"{where}: invalid base64") from None


def tls_scan_to_dict(scan: TlsScan) -> dict[str, Any]:
    out: dict[str, Any] = {k: list(getattr(scan, k)) for k in _CODE_LISTS}
    out["suites"] = [
        {"version": vs.version, "suites": list(vs.suites), "server_order": vs.server_order}
        for vs in scan.suites
    ]
    for k in _FLAGS:
        out[k] = getattr(scan, k)
    cr = scan.client_cert_request
    out["client_cert_request"] = (
        None if cr is None else {"ca_count": cr.ca_count, "ca_bytes": cr.ca_bytes}
    )
    out["leaf_certificates"] = [
        base64.b64encode(der).decode("ascii") for der in scan.leaf_certificates
    ]
    out["leaf_without_sni"] = (
        None
        if scan.leaf_without_sni is None
        else base64.b64encode(scan.leaf_without_sni).decode("ascii")
    )
    out["ocsp_response"] = _b64(scan.ocsp_response)
    out["connections"] = scan.connections
    out["incomplete"] = scan.incomplete
    out["incomplete_reason"] = scan.incomplete_reason
    return out


def _obj(data: object, where: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise StoreError(f"{where}: expected an object")
    missing = [k for k in keys if k not in data]
    if missing:
        raise StoreError(f"{where}: missing field {missing[0]!r}")
    extra = sorted(str(k) for k in data if k not in keys)
    if extra:
        raise StoreError(f"{where}: unknown field(s) {', '.join(extra)[:60]}")
    return data


def _int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise StoreError(f"{where}: expected a non-negative integer")
    return value


def _ints(value: object, where: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise StoreError(f"{where}: expected a list")
    return tuple(_int(v, f"{where}[{i}]") for i, v in enumerate(value))


def _opt_bool(value: object, where: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise StoreError(f"{where}: expected true, false or null")
    return value


def tls_scan_from_dict(data: object, where: str = "tls_scan") -> TlsScan:
    if isinstance(data, Mapping):  # stored before these were learnt
        data = {**{k: v for k, v in _LATER.items() if k not in data}, **data}
    keys = (
        *_CODE_LISTS,
        "suites",
        *_FLAGS,
        "client_cert_request",
        "leaf_certificates",
        "leaf_without_sni",
        "ocsp_response",
        "connections",
        "incomplete",
        "incomplete_reason",
    )
    d = _obj(data, where, keys)
    suites_raw = d["suites"]
    if not isinstance(suites_raw, list):
        raise StoreError(f"{where}.suites: expected a list")
    suites = []
    for i, item in enumerate(suites_raw):
        w = f"{where}.suites[{i}]"
        s = _obj(item, w, ("version", "suites", "server_order"))
        suites.append(
            VersionSuites(
                version=_int(s["version"], f"{w}.version"),
                suites=_ints(s["suites"], f"{w}.suites"),
                server_order=_opt_bool(s["server_order"], f"{w}.server_order"),
            )
        )
    cr_raw = d["client_cert_request"]
    cr = None
    if cr_raw is not None:
        c = _obj(cr_raw, f"{where}.client_cert_request", ("ca_count", "ca_bytes"))
        cr = ClientCertRequest(
            ca_count=_int(c["ca_count"], f"{where}.client_cert_request.ca_count"),
            ca_bytes=_int(c["ca_bytes"], f"{where}.client_cert_request.ca_bytes"),
        )
    leaves_raw = d["leaf_certificates"]
    if not isinstance(leaves_raw, list):
        raise StoreError(f"{where}.leaf_certificates: expected a list")
    leaves = []
    for i, item in enumerate(leaves_raw):
        try:
            if not isinstance(item, str):
                raise ValueError
            leaves.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise StoreError(f"{where}.leaf_certificates[{i}]: invalid base64") from None
    no_sni_raw = d["leaf_without_sni"]
    no_sni = None
    if no_sni_raw is not None:
        try:
            if not isinstance(no_sni_raw, str):
                raise ValueError
            no_sni = base64.b64decode(no_sni_raw, validate=True)
        except (binascii.Error, ValueError):
            raise StoreError(f"{where}.leaf_without_sni: invalid base64") from None
    incomplete = d["incomplete"]
    if not isinstance(incomplete, bool):
        raise StoreError(f"{where}.incomplete: expected true or false")
    reason = d["incomplete_reason"]
    if reason is not None and not isinstance(reason, str):
        raise StoreError(f"{where}.incomplete_reason: expected a string or null")
    flags = {k: _opt_bool(d[k], f"{where}.{k}") for k in _FLAGS}
    return TlsScan(
        versions=_ints(d["versions"], f"{where}.versions"),
        suites=tuple(suites),
        groups=_ints(d["groups"], f"{where}.groups"),
        groups_tls12=_ints(d["groups_tls12"], f"{where}.groups_tls12"),
        dh_bits=_ints(d["dh_bits"], f"{where}.dh_bits"),
        sigalgs=_ints(d["sigalgs"], f"{where}.sigalgs"),
        sigalgs_tls13=_ints(d["sigalgs_tls13"], f"{where}.sigalgs_tls13"),
        tested_versions=_ints(d["tested_versions"], f"{where}.tested_versions"),
        ocsp_response=_unb64(d["ocsp_response"], f"{where}.ocsp_response"),
        client_cert_request=cr,
        leaf_certificates=tuple(leaves),
        leaf_without_sni=no_sni,
        connections=_int(d["connections"], f"{where}.connections"),
        incomplete=incomplete,
        incomplete_reason=reason,
        **flags,
    )
