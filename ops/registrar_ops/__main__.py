import sys

from registrar_ops.cli import main

sys.exit(main())
