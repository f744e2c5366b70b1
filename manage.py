#!/usr/bin/env python
"""Django's manage.py for a checkout; ``evim`` (the console script) does the same."""

from evim.cli import main

if __name__ == "__main__":
    main()
