"""The governance ledger: what is stored, and the rules that keep it true."""
