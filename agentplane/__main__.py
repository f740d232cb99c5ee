from agentplane.cli import main

raise SystemExit(main())
