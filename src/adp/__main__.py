from adp.cli import main

main()
