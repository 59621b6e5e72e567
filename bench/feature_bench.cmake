# feature_bench: Chorus feature front end vs torchaudio on one thread
# (bench/feature_bench.cc; runs bench/torchaudio_fbank_bench.py for the
# torchaudio figures).
add_executable(feature_bench ${CMAKE_CURRENT_LIST_DIR}/feature_bench.cc)
target_link_libraries(feature_bench PRIVATE chorus_audio chorus_bench_util)
chorus_use_torch(feature_bench)
