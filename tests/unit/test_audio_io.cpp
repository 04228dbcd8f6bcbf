// placeholder: unit/test_audio_io (being written)
