import sys

from kiosk.i18n.catalogs import main

sys.exit(main())
