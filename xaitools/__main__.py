from xaitools.cli import main

raise SystemExit(main())
