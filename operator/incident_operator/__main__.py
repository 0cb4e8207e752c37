from incident_operator.entrypoint import main

raise SystemExit(main())
