"""`python -m resdeep` is the same as the `resdeep` command (torchrun uses this form)."""
from resdeep.cli import main

if __name__ == "__main__":
    main()
