"""``python -m runwatch``: the same entry as the ``runwatch`` console script (``runwatch/cli_entry.py``)."""

from runwatch.cli_entry import main

if __name__ == "__main__":
    main()
