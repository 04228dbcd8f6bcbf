// placeholder: cli/test_pipeline (being written)
