"""The integration guide's entry point: `python api_server.py [--config configs/api_config.yaml]`.

Same as `megatts3-server serve [--config ...]`; kept so the deployment guide's commands work unchanged.
"""

import sys

from megatts3_server.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["serve"]
    main()
