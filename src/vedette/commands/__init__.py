"""One module per ``vedette`` command (see ``_common`` for the contract)."""
