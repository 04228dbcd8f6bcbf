// placeholder: unit/test_analysis (being written)
