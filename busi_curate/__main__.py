from busi_curate.cli import main

main()
