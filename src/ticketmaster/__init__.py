"""Ticketing back end: browse events, hold seats atomically, buy them durably."""
