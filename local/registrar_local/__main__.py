import sys

from registrar_local.cli import main

sys.exit(main())
