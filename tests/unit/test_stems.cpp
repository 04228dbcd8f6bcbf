// placeholder: unit/test_stems (being written)
