# libFuzzer targets of seqedit::facts (included by tests/fuzz/CMakeLists.txt when seqedit_facts exists):
#   fuzz_facts_requests  a format byte + bytes as CounterFact / zsRE / JSON Lines requests
#                        (corpus/facts_requests, dict/facts_requests.dict)
#   fuzz_facts_hparams   bytes as a MEMIT / AlphaEdit hparams JSON file
#                        (corpus/facts_hparams, dict/facts_hparams.dict)
#   fuzz_facts_manifest  bytes as the manifest.json of a run state (corpus/facts_manifest)
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
  # manifest.json of a run state: the parser (and the hparams parser it calls) compiled into
  # the target, the rest of the pipeline (method names, templates) from the library.
  add_executable(fuzz_facts_manifest "${CMAKE_CURRENT_LIST_DIR}/fuzz_facts_manifest.cpp"
                 "${_facts_src}/run_state.cpp" "${_facts_src}/hparams.cpp")
  target_link_libraries(fuzz_facts_manifest PRIVATE seqedit::facts)
  target_compile_features(fuzz_facts_manifest PRIVATE cxx_std_17)
  seqedit_target_warnings(fuzz_facts_manifest)
  target_compile_options(fuzz_facts_manifest PRIVATE -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
  target_link_options(fuzz_facts_manifest PRIVATE -fsanitize=fuzzer,address,undefined)
endif()
