# libFuzzer targets of seqedit::facts (included by tests/fuzz/CMakeLists.txt when seqedit_facts exists):
#   fuzz_facts_requests  a format byte + bytes as CounterFact / zsRE / JSON Lines requests
#                        (corpus/facts_requests, dict/facts_requests.dict)
#   fuzz_facts_hparams   bytes as a MEMIT / AlphaEdit hparams JSON file
#                        (corpus/facts_hparams, dict/facts_hparams.dict)
# The parsers' sources are compiled into the targets so that they are instrumented too.
if(SEQEDIT_BUILD_FUZZERS AND TARGET seqedit_facts)
  set(_facts_src "${PROJECT_SOURCE_DIR}/include/seqedit/facts/src")
  set(_fuzz_facts_requests_src "${_facts_src}/requests.cpp")
  set(_fuzz_facts_hparams_src "${_facts_src}/hparams.cpp")
  foreach(_f facts_requests facts_hparams)
    add_executable(fuzz_${_f} "${CMAKE_CURRENT_LIST_DIR}/fuzz_${_f}.cpp" "${_fuzz_${_f}_src}")
    target_link_libraries(fuzz_${_f} PRIVATE seqedit::io)
    target_include_directories(fuzz_${_f} PRIVATE "${PROJECT_SOURCE_DIR}/include")
    target_compile_features(fuzz_${_f} PRIVATE cxx_std_17)
    seqedit_target_warnings(fuzz_${_f})
    target_compile_options(fuzz_${_f} PRIVATE -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
    target_link_options(fuzz_${_f} PRIVATE -fsanitize=fuzzer,address,undefined)
  endforeach()
endif()
