"""Windows certificate stores: read what an administrator exports, judge it, print fixes.

Modules:

    certutil    the text of ``certutil -store``, English and French (pure)
    inputs      every export kind (.p7b, PEM/DER files and folders, certutil text; .sst via
                ``read_sst``, the one place the .sst reader plugs in) -> ``StoreCert`` values
    analyse     the findings (pure over exports, a date and the trust data)
    powershell  the PowerShell/certutil text vedette prints, quoted so that names stay data

``vedette store check`` and ``vedette store export-commands`` (``vedette.commands.store``)
are the CLI.
"""
