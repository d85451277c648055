"""DGC2: the Dongguan Citizen Card's offline-verifiable code (issue 16, M-7, M-23, M-19).

One implementation, used by gates (the ``dgc2-terminal`` distribution) and by the platform (which
installs this same package and reaches it through ``qr.offline``):

- :mod:`dgc2.base45` RFC 9285;
- :mod:`dgc2.keys` Ed25519 and SM2 keys (:mod:`dgc2.sm2`, the ``gm`` extra);
- :mod:`dgc2.format` the certificate and code bytes, text, strict parsing, signing inputs,
  issuing a certificate and making a code;
- :mod:`dgc2.trust` the signed trust list (reader and writer);
- :mod:`dgc2.denylist` the signed deny list and its deltas (readers and writers);
- :mod:`dgc2.gate` the gate algorithm, steps 1-13, and a terminal's memory and records;
- :mod:`dgc2.cli` the ``dgc2-verify`` command.
"""
