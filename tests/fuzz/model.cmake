# libFuzzer target of seqedit::model (included by tests/fuzz/CMakeLists.txt):
#   fuzz_model_config   arbitrary bytes as config.json (corpus/model_config, dict/model_config.dict)
# The parser's source is compiled into the target so that it is instrumented too.
add_executable(fuzz_model_config "${CMAKE_CURRENT_LIST_DIR}/fuzz_model_config.cpp"
  "${PROJECT_SOURCE_DIR}/include/seqedit/model/src/config.cpp")
target_link_libraries(fuzz_model_config PRIVATE seqedit::io)
target_compile_features(fuzz_model_config PRIVATE cxx_std_17)
seqedit_target_warnings(fuzz_model_config)
target_compile_options(fuzz_model_config PRIVATE -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
target_link_options(fuzz_model_config PRIVATE -fsanitize=fuzzer,address,undefined)
