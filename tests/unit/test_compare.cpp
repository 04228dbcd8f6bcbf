// placeholder: unit/test_compare (being written)
