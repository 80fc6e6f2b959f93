from omnivec.cli import main

main()
