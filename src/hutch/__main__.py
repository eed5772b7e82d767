from hutch.cli.main import main

raise SystemExit(main())
