from emgrt.cli import main

raise SystemExit(main())
