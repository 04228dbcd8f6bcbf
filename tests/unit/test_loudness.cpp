// placeholder: unit/test_loudness (being written)
