"""Trust: root stores as data, the distrust timeline, client profiles and the simulation.

Layers (inside out):

* ``data/`` — versioned facts with their sources: ``roots.json`` + ``roots.pem`` (membership of
  each root in the Mozilla, Microsoft, Chrome, Apple, Android, OpenJDK and Oracle stores, with
  dates), ``distrust.json`` (the distrust timeline), ``profiles.json`` (client profiles),
  ``interception.json`` (SSL-inspection products). ``regenerate.py`` rebuilds the machine-derived
  files from PyPI packages.
* ``_data`` — typed loaders for those files (and for a user's own profile file).
* ``simulate`` — pure: for one chain (and what is known of the server's TLS), every profile's
  verdict with every reason.
* ``vedette.checks.matrix`` (not here) — the adapter from a CheckContext and an observation
  to :func:`simulate`, so that trust stays pure over chain, server facts, options and date.
* ``_anchors`` — the I/O edge for the default anchors: certifi's Mozilla roots and ``--ca``.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vedette.trust._anchors import load_extra_roots as load_extra_roots
    from vedette.trust._anchors import mozilla_roots_der as mozilla_roots_der
    from vedette.trust._anchors import pem_certificates as pem_certificates
    from vedette.trust._data import PROFILE_ALIASES as PROFILE_ALIASES
    from vedette.trust._data import Profile as Profile
    from vedette.trust._data import TrustData as TrustData
    from vedette.trust._data import load_profile_file as load_profile_file
    from vedette.trust._data import profiles_from_document as profiles_from_document
    from vedette.trust._data import sha256_hex as sha256_hex
    from vedette.trust._data import suite_codes as suite_codes
    from vedette.trust._data import trust_data as trust_data
    from vedette.trust._data import unverified_facts as unverified_facts

# Imported on first use (PEP 562): reading ``--ca`` files, which every scan does before it
# probes, needs the anchors module alone, not the profiles and their data.
_FROM = {
    "load_extra_roots": "_anchors",
    "mozilla_roots_der": "_anchors",
    "pem_certificates": "_anchors",
    "PROFILE_ALIASES": "_data",
    "Profile": "_data",
    "TrustData": "_data",
    "load_profile_file": "_data",
    "profiles_from_document": "_data",
    "sha256_hex": "_data",
    "suite_codes": "_data",
    "trust_data": "_data",
    "unverified_facts": "_data",
}


def __getattr__(name: str) -> object:
    if name in _FROM:
        import importlib

        return getattr(importlib.import_module(f"vedette.trust.{_FROM[name]}"), name)
    raise AttributeError(f"module 'vedette.trust' has no attribute {name!r}")


__all__ = [
    "PROFILE_ALIASES",
    "Profile",
    "TrustData",
    "load_extra_roots",
    "load_profile_file",
    "mozilla_roots_der",
    "pem_certificates",
    "profiles_from_document",
    "sha256_hex",
    "suite_codes",
    "trust_data",
    "unverified_facts",
]
