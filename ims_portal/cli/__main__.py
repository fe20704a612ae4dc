from ims_portal.cli.main import main

raise SystemExit(main())
