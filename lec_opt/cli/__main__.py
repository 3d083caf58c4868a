from lec_opt.cli import main

main()
