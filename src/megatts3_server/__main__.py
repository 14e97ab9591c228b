from megatts3_server.cli import main

main()
