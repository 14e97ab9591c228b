"""What the stores of every concern share: the leased-work queue (leased_work.py)."""
