// placeholder: cli/test_errors (being written)
