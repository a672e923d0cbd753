from vedette.cli import main

raise SystemExit(main())
