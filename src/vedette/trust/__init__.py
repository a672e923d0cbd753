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

from vedette.trust._anchors import load_extra_roots as load_extra_roots
from vedette.trust._anchors import mozilla_roots_der as mozilla_roots_der
from vedette.trust._anchors import pem_certificates as pem_certificates
from vedette.trust._data import PROFILE_ALIASES as PROFILE_ALIASES
from vedette.trust._data import Profile as Profile
from vedette.trust._data import TrustData as TrustData
from vedette.trust._data import load_profile_file as load_profile_file
from vedette.trust._data import profiles_from_document as profiles_from_document
from vedette.trust._data import sha256_hex as sha256_hex
from vedette.trust._data import trust_data as trust_data
from vedette.trust._data import unverified_facts as unverified_facts

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
    "trust_data",
    "unverified_facts",
]
