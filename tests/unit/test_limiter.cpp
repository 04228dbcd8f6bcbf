// placeholder: unit/test_limiter (being written)
