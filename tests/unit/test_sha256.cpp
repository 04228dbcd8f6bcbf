// placeholder: unit/test_sha256 (being written)
