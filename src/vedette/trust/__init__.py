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
* ``_anchors`` — the I/O edge for the default anchors: certifi's Mozilla roots and ``--ca``.
"""

from vedette.trust._anchors import load_extra_roots as load_extra_roots
from vedette.trust._anchors import mozilla_roots_der as mozilla_roots_der
from vedette.trust._anchors import pem_certificates as pem_certificates

__all__ = ["load_extra_roots", "mozilla_roots_der", "pem_certificates"]
