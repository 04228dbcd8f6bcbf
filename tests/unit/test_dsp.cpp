// placeholder: unit/test_dsp (being written)
