from evim.cli import main

main()
