from pykafka_broker.cli import main

main()
