// placeholder: cli/cli_util (being written)
