from kokreativ.cli import main

raise SystemExit(main())
