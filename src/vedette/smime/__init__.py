"""S/MIME (RFC 8551) and CMS (RFC 5652): sign, verify, encrypt, decrypt messages; pure code.

Modules (sans-I/O: bytes in, frozen values or bytes out; no file, no clock read here):

    asn1     bounded BER decoding (size, nesting) with one-line :class:`SmimeError` errors
    mime     the MIME framing: split a message into headers and the entity to sign, build
             and read ``multipart/signed`` and ``application/pkcs7-mime``
    cms      SignedData: build it (sign) and read it (the signer infos, the certificates)
    verify   the verdict on a signed message: signature, digest, chain to the CAs given,
             From address, key usage, EKU, validity at signing time and at the time asked
    envelope EnvelopedData (AES-CBC) and AuthEnvelopedData (AES-GCM) to RSA recipients
             (PKCS#1 v1.5 or OAEP): encrypt, and decrypt with one error for every failure

Why pyasn1 (with pyasn1-modules) and not asn1crypto. vedette already decodes ASN.1 with pyasn1
(the LDAP codec, ``vedette.pki.pkcs12``), and pyasn1-modules ships the CMS modules this package
needs as they are written in the RFCs: RFC 5652 (CMS), RFC 5083/5084 (AuthEnvelopedData,
AES-GCM), RFC 5751/8551 (SMIMECapabilities), RFC 4055 (RSASSA-PSS, RSAES-OAEP), RFC 8018. One
ASN.1 stack means one set of decoding bounds and one kind of error to map; asn1crypto would be
a second parser of the same bytes with its own failure modes. pyasn1 decodes BER (Outlook and
Java write indefinite lengths), which the bounded pre-pass of :mod:`vedette.smime.asn1` puts in
definite form first. The primitives (RSA PKCS#1 v1.5 and PSS, ECDSA, Ed25519, digests) are
``cryptography``'s; its own PKCS#7 API signs but does not verify, so the structures are built
and read here.
"""

from vedette.smime.asn1 import SmimeError as SmimeError
