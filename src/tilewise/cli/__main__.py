"""``python -m tilewise.cli``: the same as the ``tilewise`` command."""

from tilewise.cli.app import main

if __name__ == "__main__":
    main()
